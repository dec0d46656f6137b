/**
 * Runtime fix for `@matrixai/quic` 2.0.9's `QUICConnection` (the JS wrapper;
 * `WebTransportServer` drives the native binding and does not need it).
 *
 * The wrapper calls `processStreams()` as soon as the handshake completes,
 * while its `start()` is still running. A stream the peer opened in that
 * first flight (an HTTP/3 client's control stream always is) is then treated
 * as arriving on a connection that is not running: the wrapper shuts down
 * both directions of it, and shutting the write side of a peer-initiated
 * unidirectional stream throws quiche's `InvalidStreamState` out of a socket
 * callback, which kills the process. Even without the crash the stream would
 * be refused, which HTTP/3 treats as closing a critical stream.
 *
 * The fix defers stream processing while the connection is starting and runs
 * it once `start()` has finished and its caller has had a tick to attach
 * listeners; quiche keeps the streams readable meanwhile. It is applied only
 * to the exact version it was written against, since it relies on that
 * version's internals.
 */
import { createRequire } from 'node:module';
import QUICConnection from '@matrixai/quic/QUICConnection.js';

export const PATCHED_MATRIXAI_QUIC_VERSION = '2.0.9';

export type PatchResult = 'applied' | 'already-applied' | 'version-mismatch';

const MARK = Symbol.for('polycast.matrixai-quic.deferred-stream-patch');
const DEFERRED = Symbol('polycast.deferredStreams');

interface PatchableConnection {
  processStreams(): void;
  send(): Promise<void>;
  start(...args: unknown[]): Promise<unknown>;
  [DEFERRED]?: boolean;
  [key: symbol]: unknown;
}

export function installedMatrixaiQuicVersion(): string {
  const require = createRequire(import.meta.url);
  return (require('@matrixai/quic/package.json') as { version: string }).version;
}

/** Installs the fix once per process; refuses (and changes nothing) on any other version. */
export function patchMatrixaiQuic(): PatchResult {
  if (installedMatrixaiQuicVersion() !== PATCHED_MATRIXAI_QUIC_VERSION) return 'version-mismatch';
  const proto = QUICConnection.prototype as unknown as PatchableConnection & { [MARK]?: true };
  if (proto[MARK]) return 'already-applied';

  // The start/stop state lives behind symbols of @matrixai/async-init, defined on this prototype.
  const symbols = Object.getOwnPropertySymbols(proto);
  const status = symbols.find((s) => s.description === 'status');
  const running = symbols.find((s) => s.description === 'running');
  if (status === undefined || running === undefined || typeof proto.processStreams !== 'function' || typeof proto.start !== 'function') {
    return 'version-mismatch';
  }

  const processStreams = proto.processStreams;
  const start = proto.start;

  proto.processStreams = function (this: PatchableConnection): void {
    if (this[status] === 'starting') {
      this[DEFERRED] = true;
      return;
    }
    try {
      processStreams.call(this);
    } catch (e) {
      // While stopping, the original still shuts the write side of peer uni streams.
      if (!(this[status] === 'stopping' && e instanceof Error && e.message.startsWith('InvalidStreamState'))) throw e;
    }
  };

  proto.start = async function (this: PatchableConnection, ...args: unknown[]): Promise<unknown> {
    const result = await start.apply(this, args);
    if (this[DEFERRED]) {
      this[DEFERRED] = false;
      setImmediate(() => {
        if (this[running] !== true || this[status] === 'stopping') return;
        proto.processStreams.call(this);
        this.send().catch(() => {});
      });
    }
    return result;
  };

  Object.defineProperty(proto, MARK, { value: true });
  return 'applied';
}
