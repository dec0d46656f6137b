/**
 * Keeps a viewer well under the server's input budget (500/s, burst 100,
 * beyond which it drops and eventually disconnects) without losing what
 * matters: key and button events always go out, in order; pointer moves and
 * wheel ticks waiting behind the budget merge into one message.
 */
import { encodeMovement, encodePosition, encodeWheel } from './messages.js';

export type InputEvent =
  | { readonly kind: 'discrete'; readonly bytes: Uint8Array }
  | { readonly kind: 'position'; readonly x: number; readonly y: number }
  | { readonly kind: 'movement'; readonly dx: number; readonly dy: number }
  | { readonly kind: 'wheel'; readonly dx: number; readonly dy: number };

export interface InputThrottleOptions {
  readonly send: (bytes: Uint8Array) => void;
  readonly now: () => number;
  readonly schedule: (run: () => void, delayMs: number) => () => void;
  readonly ratePerSecond?: number;
  readonly burst?: number;
  /** Only discrete events can pile up this far (a stuck key repeater); beyond it they are dropped. */
  readonly maxQueued?: number;
}

const I16_MAX = 0x7fff;
const I16_MIN = -0x8000;

function fitsI16(value: number): boolean {
  return value >= I16_MIN && value <= I16_MAX;
}

/** Merges `next` into `last` when both are the same continuous gesture; null when they cannot merge. */
function coalesce(last: InputEvent, next: InputEvent): InputEvent | null {
  if (last.kind === 'position' && next.kind === 'position') return next;
  if ((last.kind === 'movement' && next.kind === 'movement') || (last.kind === 'wheel' && next.kind === 'wheel')) {
    const dx = last.dx + next.dx;
    const dy = last.dy + next.dy;
    return fitsI16(dx) && fitsI16(dy) ? { kind: last.kind, dx, dy } : null;
  }
  return null;
}

function encode(event: InputEvent): Uint8Array {
  switch (event.kind) {
    case 'discrete':
      return event.bytes;
    case 'position':
      return encodePosition(event.x, event.y);
    case 'movement':
      return encodeMovement(event.dx, event.dy);
    case 'wheel':
      return encodeWheel(event.dx, event.dy);
  }
}

export class InputThrottle {
  private readonly rate: number;
  private readonly burst: number;
  private readonly maxQueued: number;
  private readonly queue: InputEvent[] = [];
  private tokens: number;
  private refilledAt: number;
  private cancelTimer: (() => void) | null = null;
  /** Events refused because the queue was full. */
  dropped = 0;

  constructor(private readonly options: InputThrottleOptions) {
    this.rate = options.ratePerSecond ?? 250;
    this.burst = options.burst ?? 25;
    this.maxQueued = options.maxQueued ?? 256;
    this.tokens = this.burst;
    this.refilledAt = options.now();
  }

  push(event: InputEvent): void {
    const last = this.queue.at(-1);
    const merged = last ? coalesce(last, event) : null;
    if (merged) {
      this.queue[this.queue.length - 1] = merged;
    } else if (this.queue.length >= this.maxQueued) {
      this.dropped++;
      return;
    } else {
      this.queue.push(event);
    }
    this.drain();
  }

  /** Forget pending input, e.g. when the connection it was meant for is gone. */
  clear(): void {
    this.queue.length = 0;
    this.cancelTimer?.();
    this.cancelTimer = null;
  }

  get pending(): number {
    return this.queue.length;
  }

  private refill(): void {
    const now = this.options.now();
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.refilledAt) * this.rate) / 1000);
    this.refilledAt = now;
  }

  private drain(): void {
    this.refill();
    while (this.queue.length > 0 && this.tokens >= 1) {
      this.tokens -= 1;
      this.options.send(encode(this.queue.shift()!));
    }
    if (this.queue.length > 0 && this.cancelTimer === null) {
      const waitMs = Math.max(1, Math.ceil(((1 - this.tokens) * 1000) / this.rate));
      this.cancelTimer = this.options.schedule(() => {
        this.cancelTimer = null;
        this.drain();
      }, waitMs);
    }
  }
}
