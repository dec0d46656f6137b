/**
 * A transport whose player side is a module loaded only when negotiation
 * tries it (the bundler makes it a chunk of its own): WebTransport's, which
 * bring the moq client, and HLS's, which brings hls.js. Until the module is
 * loaded a `DeferredSession` stands in for its session and forwards to it
 * afterwards; a module that cannot be loaded fails the attempt at once with
 * a clear reason, and negotiation moves on without waiting for a timeout.
 */
import type { SessionCapabilities, SurfaceKind, TransportContext, TransportDefinition, TransportModule, TransportSession } from './types.js';

/**
 * Until its module is loaded (and while its constructor runs) a session says
 * what the deferred modules all do: they play the sound and take no input.
 * Saying "no sound" would make the player open its input channel with sound,
 * only to reopen it without a moment later.
 */
const LOADING: SessionCapabilities = { input: false, audio: true, videoToggle: false, keyframesOnly: false };

/** Stands in for the module's session until it loaded, then forwards to it. */
export class DeferredSession implements TransportSession {
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
      (err: unknown) => {
        if (this.closed) return;
        this.closed = true;
        context.recorder.log(`${id}: its player module did not load: ${(err as Error)?.message ?? String(err)}`);
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

export interface DeferredTransportSpec {
  readonly id: string;
  readonly description: string;
  readonly surface: SurfaceKind;
  readonly variants?: readonly string[];
  readonly variantsAfter?: Readonly<Record<string, string>>;
  readonly connectTimeoutMs?: number;
  unsupportedReason(): string | null;
  variantUnsupportedReason?(variant: string): string | null;
  /** Async, so that a bundler's synchronous "not in bundle" error arrives as a rejection too. */
  load(id: string): Promise<TransportModule>;
}

export function deferredTransport(spec: DeferredTransportSpec): TransportDefinition {
  const { load, ...definition } = spec;
  return {
    ...definition,
    unsupportedReason: () => spec.unsupportedReason(),
    connect: (context) => new DeferredSession(spec.id, context, load),
  };
}
