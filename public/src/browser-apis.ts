/**
 * Browser APIs that TypeScript's DOM library does not describe yet
 * (WebSocketStream: Chromium only; ManagedMediaSource: Safari 17+), looked up
 * at call time so a test or a page can remove them before the player loads.
 */

export interface WebSocketStreamOpened {
  readonly readable: ReadableStream<ArrayBuffer | string>;
  readonly writable: WritableStream<ArrayBuffer | ArrayBufferView | string>;
}

export interface WebSocketStreamClosed {
  readonly closeCode?: number;
  readonly reason?: string;
}

export interface WebSocketStreamLike {
  readonly opened: Promise<WebSocketStreamOpened>;
  readonly closed: Promise<WebSocketStreamClosed>;
  close(info?: { closeCode?: number; reason?: string }): void;
}

export type WebSocketStreamConstructor = new (url: string) => WebSocketStreamLike;

export function webSocketStreamApi(): WebSocketStreamConstructor | null {
  const ctor = (globalThis as { WebSocketStream?: WebSocketStreamConstructor }).WebSocketStream;
  return typeof ctor === 'function' ? ctor : null;
}

export interface MediaSourceApi {
  readonly name: 'MediaSource' | 'ManagedMediaSource';
  readonly create: () => MediaSource;
  readonly isTypeSupported: (mime: string) => boolean;
}

type MediaSourceConstructor = (new () => MediaSource) & { isTypeSupported(type: string): boolean };

/**
 * Plain MediaSource where it exists: it behaves the same everywhere and
 * never asks us to stop appending. iOS Safari has only ManagedMediaSource
 * (17.1+), whose element must not offer AirPlay (`disableRemotePlayback`).
 */
export function mediaSourceApi(): MediaSourceApi | null {
  const g = globalThis as { MediaSource?: MediaSourceConstructor; ManagedMediaSource?: MediaSourceConstructor };
  const plain = typeof g.MediaSource === 'function' ? g.MediaSource : undefined;
  const managed = typeof g.ManagedMediaSource === 'function' ? g.ManagedMediaSource : undefined;
  const ctor = plain ?? managed;
  if (!ctor) return null;
  return {
    name: plain ? 'MediaSource' : 'ManagedMediaSource',
    create: () => new ctor(),
    isTypeSupported: (mime) => ctor.isTypeSupported(mime),
  };
}
