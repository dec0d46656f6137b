/** A MediaSource and SourceBuffer with just the behaviour MseSink relies on, for tests of it and of what feeds it. */
import { afterEach, beforeEach, vi } from 'vitest';
import type { MediaSourceApi } from '../../public/src/browser-apis.js';

/** Just the SourceBuffer behaviour the sink relies on: one operation at a time, buffered ranges, quota errors. */
export class FakeSourceBuffer {
  updating = false;
  ranges: [number, number][] = [];
  readonly done: string[] = [];
  /** Every appended segment, whole. */
  readonly appended: Uint8Array[] = [];
  quotaErrors = 0;
  private readonly listeners = new Map<string, () => void>();

  get buffered() {
    const ranges = this.ranges;
    return { length: ranges.length, start: (i: number) => ranges[i]![0], end: (i: number) => ranges[i]![1] };
  }

  addEventListener(type: string, listener: () => void): void {
    this.listeners.set(type, listener);
  }

  appendBuffer(bytes: Uint8Array): void {
    if (this.quotaErrors > 0) {
      this.quotaErrors--;
      throw Object.assign(new Error('buffer full'), { name: 'QuotaExceededError' });
    }
    this.done.push(`append ${bytes[0]}`);
    this.appended.push(bytes);
    this.updating = true;
  }

  remove(start: number, end: number): void {
    this.done.push(`remove ${start}-${end}`);
    this.updating = true;
  }

  /** The browser finishes the current operation. */
  finish(): void {
    this.updating = false;
    this.listeners.get('updateend')?.();
  }

  /** Finishes everything queued, one after the other. */
  drain(): void {
    for (let i = 0; i < 1000 && this.updating; i++) this.finish();
  }
}

export class FakeMediaSource {
  readyState = 'closed';
  readonly buffers: FakeSourceBuffer[] = [];
  private open: (() => void) | null = null;

  addEventListener(_type: string, listener: () => void): void {
    this.open = listener;
  }

  addSourceBuffer(): FakeSourceBuffer {
    const buffer = new FakeSourceBuffer();
    this.buffers.push(buffer);
    return buffer;
  }

  fireOpen(): void {
    this.readyState = 'open';
    this.open?.();
  }
}

/** A MediaSourceApi whose sources are kept in `sources`, in the order they were made. */
export function fakeMediaSourceApi(): { api: MediaSourceApi; sources: FakeMediaSource[] } {
  const sources: FakeMediaSource[] = [];
  const api: MediaSourceApi = {
    name: 'MediaSource',
    create: () => {
      const source = new FakeMediaSource();
      sources.push(source);
      return source as unknown as MediaSource;
    },
    isTypeSupported: () => true,
  };
  return { api, sources };
}

/** The parts of a media element MseSink touches. */
export function fakeMediaElement(currentTime = 0) {
  return { src: '', currentTime, removeAttribute: () => undefined, load: () => undefined, disableRemotePlayback: false };
}

/** In a describe block: object URLs for the fake sources, mocked for each test and restored after it. */
export function mockObjectUrls(): void {
  beforeEach(() => {
    vi.spyOn(URL, 'createObjectURL').mockReturnValue('blob:fake');
    vi.spyOn(URL, 'revokeObjectURL').mockReturnValue(undefined);
  });
  afterEach(() => {
    vi.restoreAllMocks();
  });
}
