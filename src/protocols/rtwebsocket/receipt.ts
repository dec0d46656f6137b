/**
 * A write receipt tracks one queued message from `write()` until it is
 * acknowledged or abandoned, and lets the writer give up on it.
 *
 * Parent links let dependent messages (a P-frame and the frames it predicts
 * from) share a fate: abandoning a parent abandons every descendant at once.
 * A link exists only while both ends are unfinished, so a long chain of
 * receipts never keeps already-sent ancestors alive.
 */

export type ReceiptCallback = (receipt: WriteReceipt) => void;

/** What a receipt needs from the flow that queued it. */
export interface ReceiptHost {
  now(): number;
  /** Runs a user callback after the current protocol work. */
  defer(callback: () => void): void;
  /** The message will never be sent: its bytes can go. */
  receiptAbandoned(receipt: WriteReceipt): void;
  /** A deadline was set after queuing: make sure someone checks it. */
  deadlineChanged(): void;
}

type State = 'queued' | 'started' | 'sent' | 'acknowledged' | 'abandoned';

export class WriteReceipt {
  /** Ordinal of the message on its flow, from 1; the receiver sees the same number. 0 for a refused write. */
  readonly messageNumber: number;
  /**
   * Why `write` refused the message (the flow was closed or rejected, or the
   * message exceeds the flow's queue): it was never queued, and the receipt
   * is abandoned from the start. Undefined for a message that was queued.
   */
  error: Error | undefined;
  /** When the message was written, on the connection's clock (ms). */
  readonly createdAt: number;

  /** The last fragment was handed to the transport. */
  onSent?: ReceiptCallback;
  /** The peer acknowledged receiving every byte of the message. */
  onAcknowledged?: ReceiptCallback;
  /** The message was given up before being completely sent. */
  onAbandoned?: ReceiptCallback;

  /** @internal Unsent message bytes; null once sent or abandoned. */
  _bytes: Uint8Array | null;
  /** @internal How many of `_bytes` were already sent. */
  _offset = 0;

  readonly #host: ReceiptHost;
  #state: State = 'queued';
  #everStarted = false;
  #startBy: number;
  #finishBy: number;
  #parent: WriteReceipt | null = null;
  #children: Set<WriteReceipt> | null = null;

  /** @internal Created by `SendFlow.write`. */
  constructor(host: ReceiptHost, messageNumber: number, bytes: Uint8Array, startWithin: number, finishWithin: number) {
    this.#host = host;
    this.messageNumber = messageNumber;
    this.createdAt = host.now();
    this._bytes = bytes;
    this.#startBy = this.createdAt + startWithin;
    this.#finishBy = this.createdAt + finishWithin;
  }

  /** Absolute time (ms) by which sending must start, else the message is abandoned. */
  get startBy(): number {
    return this.#startBy;
  }

  set startBy(value: number) {
    this.#startBy = value;
    this.#host.deadlineChanged();
  }

  /** Absolute time (ms) by which sending must finish, else the message is abandoned. */
  get finishBy(): number {
    return this.#finishBy;
  }

  set finishBy(value: number) {
    this.#finishBy = value;
    this.#host.deadlineChanged();
  }

  /** At least one fragment went out. */
  get started(): boolean {
    return this.#everStarted;
  }

  get sent(): boolean {
    return this.#state === 'sent' || this.#state === 'acknowledged';
  }

  get acknowledged(): boolean {
    return this.#state === 'acknowledged';
  }

  get abandoned(): boolean {
    return this.#state === 'abandoned';
  }

  /** Sent or abandoned: nothing more will happen to the message's transmission. */
  get finished(): boolean {
    return this.sent || this.abandoned;
  }

  /** Milliseconds since the message was written. */
  get age(): number {
    return this.#host.now() - this.createdAt;
  }

  get parent(): WriteReceipt | null {
    return this.#parent;
  }

  /**
   * Makes this message depend on `parent`. An already-abandoned parent abandons
   * this message immediately; an already-sent one can no longer fail, so no
   * link is kept.
   */
  set parent(parent: WriteReceipt | null) {
    this.#detach();
    if (parent === null || this.finished) return;
    for (let ancestor: WriteReceipt | null = parent; ancestor !== null; ancestor = ancestor.#parent) {
      if (ancestor === this) throw new Error('write receipt parent chain would form a cycle');
    }
    if (parent.abandoned) {
      this.abandon();
      return;
    }
    if (parent.sent) return;
    this.#parent = parent;
    (parent.#children ??= new Set()).add(this);
  }

  /** Gives up on the message, and on every message that depends on it, unless already sent. */
  abandon(): void {
    // Iterative: a GOP chained frame to frame can be thousands deep.
    const pending: WriteReceipt[] = [this];
    while (pending.length > 0) {
      const receipt = pending.pop()!;
      if (receipt.finished) continue;
      receipt.#state = 'abandoned';
      receipt.#detach();
      const children = receipt.#children;
      receipt.#children = null;
      if (children !== null) {
        for (const child of children) {
          child.#parent = null;
          pending.push(child);
        }
      }
      receipt.#host.receiptAbandoned(receipt);
      receipt.#host.defer(() => receipt.onAbandoned?.(receipt));
    }
  }

  /**
   * @internal A write that never became a message: abandoned at once, without
   * touching the flow's queue. Writers learn of it as of any abandonment (and
   * from `error`), so a refused write cannot throw into, say, a stream fan-out.
   */
  _refuse(error: Error): void {
    this.error = error;
    this._bytes = null;
    this.#state = 'abandoned';
    this.#host.defer(() => this.onAbandoned?.(this));
  }

  /** @internal Abandons this message if it, or an unfinished ancestor, missed a deadline. */
  _expireIfDue(now: number): boolean {
    if (this.finished) return this.abandoned;
    for (let r: WriteReceipt | null = this; r !== null; r = r.#parent) {
      if (now > r.#finishBy || (!r.#everStarted && now > r.#startBy)) {
        r.abandon();
        break;
      }
    }
    return this.abandoned;
  }

  /** @internal Whether a deadline (own or inherited) could still abandon this message. */
  _hasDeadline(): boolean {
    return this.#parent !== null || this.#finishBy !== Infinity || (!this.#everStarted && this.#startBy !== Infinity);
  }

  /** @internal */
  _markStarted(): void {
    this.#everStarted = true;
    if (this.#state === 'queued') this.#state = 'started';
  }

  /** @internal */
  _markSent(): void {
    if (this.finished) return;
    this.#state = 'sent';
    this._bytes = null;
    this.#detach();
    const children = this.#children;
    this.#children = null;
    if (children !== null) for (const child of children) child.#parent = null;
    this.#host.defer(() => this.onSent?.(this));
  }

  /** @internal */
  _markAcknowledged(): void {
    if (this.#state !== 'sent') return;
    this.#state = 'acknowledged';
    this.#host.defer(() => this.onAcknowledged?.(this));
  }

  #detach(): void {
    const parent = this.#parent;
    if (parent === null) return;
    parent.#children?.delete(this);
    this.#parent = null;
  }
}
