/**
 * Registry entries for the WebTransport transports (`wt-raw`, `wt-fmp4`),
 * whose player side lives in modules of their own: adding one is adding the
 * file `transports/webtransport/<id>.ts` that exports `connect` (see
 * `TransportModule`). The bundler picks up whatever files are there; until
 * one exists its entry fails at once with a clear reason, and negotiation
 * moves on without waiting for a timeout.
 */
import type { SessionCapabilities, SurfaceKind, TransportContext, TransportDefinition, TransportModule, TransportSession } from './types.js';

/**
 * Until its module is loaded (and while its constructor runs) a session says
 * what both WebTransport modules do: they play the sound and take no input.
 * Saying "no sound" would make the player open its input channel with sound,
 * only to reopen it without a moment later.
 */
const LOADING: SessionCapabilities = { input: false, audio: true, videoToggle: false, keyframesOnly: false };

/** Async so that the bundler's synchronous "not in bundle" error arrives as a rejection too. */
async function loadModule(id: string): Promise<TransportModule> {
  // A template literal is a glob for esbuild: every file in the folder is bundled, nothing else.
  return (await import(`./webtransport/${id}.ts`)) as TransportModule;
}

/** Stands in for the module's session until it loaded, then forwards to it. */
class DeferredSession implements TransportSession {
  private inner: TransportSession | null = null;
  private closed = false;
  private videoEnabled: boolean;
  private keyframesOnly: boolean;

  constructor(id: string, context: TransportContext, load: (id: string) => Promise<TransportModule>) {
    this.videoEnabled = context.preferences.videoEnabled;
    this.keyframesOnly = context.preferences.keyframesOnly;
    context.events.state('connecting');
    load(id).then(
      (module) => {
        if (this.closed) return;
        this.inner = module.connect({
          ...context,
          preferences: { ...context.preferences, videoEnabled: this.videoEnabled, keyframesOnly: this.keyframesOnly },
        });
      },
      () => {
        if (this.closed) return;
        this.closed = true;
        context.recorder.log(`${id}: no player module in this build`);
        context.events.failed('not available on this server');
      },
    );
  }

  get capabilities(): SessionCapabilities {
    return this.inner?.capabilities ?? LOADING;
  }

  sendInput(message: Uint8Array): void {
    this.inner?.sendInput(message);
  }

  setVideoEnabled(enabled: boolean): void {
    this.videoEnabled = enabled;
    this.inner?.setVideoEnabled(enabled);
  }

  setKeyframesOnly(keyframesOnly: boolean): void {
    this.keyframesOnly = keyframesOnly;
    this.inner?.setKeyframesOnly(keyframesOnly);
  }

  close(): void {
    this.closed = true;
    this.inner?.close();
    this.inner = null;
  }
}

export function webTransportSlot(
  id: string,
  description: string,
  surface: SurfaceKind,
  load: (id: string) => Promise<TransportModule> = loadModule,
): TransportDefinition {
  return {
    id,
    description,
    surface,
    unsupportedReason() {
      if (typeof WebTransport === 'undefined') {
        return globalThis.isSecureContext === false ? 'WebTransport needs HTTPS or localhost' : 'no WebTransport';
      }
      return null;
    },
    connect: (context) => new DeferredSession(id, context, load),
  };
}
