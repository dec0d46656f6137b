/**
 * The sending half of a flow: a queue of messages cut into user-data
 * fragments, paced by the peer's receive window, trimmed by deadlines.
 */
import { ProtocolError } from './errors.js';
import { Fifo } from './fifo.js';
import {
  encodeAbandon,
  encodeFlowClose,
  encodeFlowOpen,
  encodeUserData,
  userDataHeaderLength,
} from './messages.js';
import { type ReceiptHost, WriteReceipt } from './receipt.js';
import type { RecvFlow } from './recv-flow.js';

/** The reference implementation's names for the eight levels; higher is sent first. */
export const Priority = {
  BACKGROUND: 0,
  BULK: 1,
  DATA: 2,
  ROUTINE: 3,
  PRIORITY: 4,
  IMMEDIATE: 5,
  FLASH: 6,
  FLASH_OVERRIDE: 7,
} as const;

export const PRIORITY_LEVELS = 8;

/**
 * What a sender may assume the receiver accepts before its first ack. The
 * spec does not say; 64 KiB is what the reference implementations assume.
 */
export const INITIAL_PEER_WINDOW = 65536;

export interface OpenFlowOptions {
  /** 0..7, default `Priority.ROUTINE` (3). */
  readonly priority?: number;
  /** Overrides the connection's per-flow queue byte limit. */
  readonly maxQueuedBytes?: number;
  /** Overrides the connection's per-flow queue message limit. */
  readonly maxQueuedMessages?: number;
}

export interface WriteOptions {
  /** Abandon the message if its first fragment has not gone out this many ms after writing. */
  readonly startWithin?: number;
  /** Abandon the message if its last fragment has not gone out this many ms after writing. */
  readonly finishWithin?: number;
  /** Abandon this message whenever `parent` is abandoned. */
  readonly parent?: WriteReceipt | null;
}

export type FlowExceptionCallback = (reasonCode: number | undefined, description: string | undefined) => void;

/** What a send flow needs from its connection. */
export interface SendFlowHost {
  readonly chunkSize: number;
  now(): number;
  defer(callback: () => void): void;
  /** Protocol messages that are not user data: not counted as bytes in flight. */
  sendControl(bytes: Uint8Array): void;
  sendUserData(bytes: Uint8Array): void;
  queueTransmission(flow: SendFlow): void;
  armDeadlineCheck(): void;
}

export function clampPriority(priority: number): number {
  if (!Number.isFinite(priority)) return Priority.ROUTINE;
  return Math.min(PRIORITY_LEVELS - 1, Math.max(0, Math.trunc(priority)));
}

interface AwaitingAck {
  readonly receipt: WriteReceipt;
  /** Flow byte position just past the message's last fragment. */
  readonly end: number;
}

export class SendFlow {
  readonly id: number;
  readonly metadata: Uint8Array;
  /** The peer's flow this one answers, if it was opened with `RecvFlow.openReturnFlow`. */
  readonly returnAssociation: number | undefined;

  /**
   * The receiver rejected the flow (reason and description as it sent them, either
   * possibly absent), or the connection closed while the flow was open (both absent).
   * Every queued message has been abandoned by then.
   */
  onException?: FlowExceptionCallback;
  /** A new flow from the peer in return to this one. Call `accept()` inside, or it is rejected. */
  onRecvFlow?: (flow: RecvFlow) => void;
  /** After a write found the queue at or over `sndbuf`, called once it drops below. */
  onWritable?: () => void;

  /** Advisory queue size in bytes below which the flow counts as writable. */
  sndbuf = 65536;
  /** Hard limit on queued unsent bytes: the oldest messages are abandoned to stay under it. */
  maxQueuedBytes: number;
  /** Hard limit on queued messages, abandoned placeholders included; enforced like `maxQueuedBytes`. */
  maxQueuedMessages: number;

  readonly #host: SendFlowHost;
  readonly #receiptHost: ReceiptHost;
  #priority: number;
  readonly #queue = new Fifo<WriteReceipt>();
  #queuedBytes = 0;
  #open = true;
  #openSent = false;
  #closeSent = false;
  #finished = false;
  #exceptionReceived = false;
  #pendingAbandon = 0;
  #sentPosition = 0;
  #ackedPosition = 0;
  #peerWindow = INITIAL_PEER_WINDOW;
  #sendLimit = INITIAL_PEER_WINDOW;
  readonly #awaitingAck = new Fifo<AwaitingAck>();
  #nextMessageNumber = 1;
  #wantWritable = false;

  /** @internal Created by `RTWebSocketConnection.openFlow` and `RecvFlow.openReturnFlow`. */
  constructor(
    host: SendFlowHost,
    id: number,
    metadata: Uint8Array,
    returnAssociation: number | undefined,
    priority: number,
    limits: { maxQueuedBytes: number; maxQueuedMessages: number },
  ) {
    this.#host = host;
    this.id = id;
    this.metadata = metadata;
    this.returnAssociation = returnAssociation;
    this.#priority = clampPriority(priority);
    this.maxQueuedBytes = limits.maxQueuedBytes;
    this.maxQueuedMessages = Math.max(1, limits.maxQueuedMessages);
    this.#receiptHost = {
      now: () => host.now(),
      defer: (callback) => host.defer(callback),
      receiptAbandoned: (receipt) => this.#releaseAbandoned(receipt),
      deadlineChanged: () => host.armDeadlineCheck(),
    };
  }

  get priority(): number {
    return this.#priority;
  }

  /** Clamped to 0..7; takes effect from the next fragment. */
  set priority(value: number) {
    const priority = clampPriority(value);
    if (priority === this.#priority) return;
    this.#priority = priority;
    this.#host.queueTransmission(this);
  }

  /** Open for writing: not closed locally, not rejected, connection up. */
  get isOpen(): boolean {
    return this.#open && !this.#finished;
  }

  /** Unsent bytes of queued, unabandoned messages. */
  get bufferLength(): number {
    return this.#queuedBytes;
  }

  get queuedMessages(): number {
    return this.#queue.length;
  }

  get writable(): boolean {
    return this.isOpen && this.#queuedBytes < this.sndbuf;
  }

  /** The receive window the peer last advertised. */
  get peerWindow(): number {
    return this.#peerWindow;
  }

  /**
   * Queues `bytes` as one message. The flow keeps a reference rather than a
   * copy: do not modify `bytes` until the receipt reports sent or abandoned.
   *
   * Never throws. On a flow that is closed (locally, by the peer's flow
   * exception, or with the connection) or for a message larger than
   * `maxQueuedBytes`, the answer is a receipt already abandoned, with
   * `error` saying why: the reference implementations throw here, but a
   * peer can close a flow at any moment, so a writer cannot check first.
   */
  write(bytes: Uint8Array, options: WriteOptions = {}): WriteReceipt {
    if (!this.isOpen) return this.#refuse(bytes, new Error(`RTWebSocket flow ${this.id} is closed`));
    if (bytes.length > this.maxQueuedBytes) {
      return this.#refuse(bytes, new RangeError(`message of ${bytes.length} bytes exceeds the flow's ${this.maxQueuedBytes}-byte queue`));
    }
    const receipt = new WriteReceipt(
      this.#receiptHost,
      this.#nextMessageNumber++,
      bytes,
      options.startWithin ?? Infinity,
      options.finishWithin ?? Infinity,
    );
    this.#queue.push(receipt);
    this.#queuedBytes += bytes.length;
    if (options.parent) receipt.parent = options.parent;
    this.#enforceLimits();
    if (this.#queuedBytes >= this.sndbuf) this.#wantWritable = true;
    this.#host.queueTransmission(this);
    if (receipt._hasDeadline()) this.#host.armDeadlineCheck();
    return receipt;
  }

  #refuse(bytes: Uint8Array, error: Error): WriteReceipt {
    const receipt = new WriteReceipt(this.#receiptHost, 0, bytes, Infinity, Infinity);
    receipt._refuse(error);
    return receipt;
  }

  /** Finishes the flow: queued messages still go out, then flow close. */
  close(): void {
    if (!this.#open) return;
    this.#open = false;
    this.#host.queueTransmission(this);
  }

  /** Abandons every queued message, e.g. to skip to live. */
  abandonQueued(): void {
    for (const receipt of this.#queue) receipt.abandon();
  }

  /** @internal Still has protocol work to do (not close-acked, connection up). */
  get _active(): boolean {
    return !this.#finished;
  }

  /** @internal */
  get _closeSent(): boolean {
    return this.#closeSent;
  }

  /**
   * @internal Sends at most one message that is not user data: flow open,
   * abandon or flow close. Those carry no payload the window governs.
   */
  _sendControl(now: number): boolean {
    if (this.#finished) return false;
    if (!this.#openSent) {
      this.#openSent = true;
      this.#host.sendControl(encodeFlowOpen(this.id, this.metadata, this.returnAssociation));
      return true;
    }
    this.#trim(now);
    if (this.#pendingAbandon > 0) {
      const count = this.#pendingAbandon;
      this.#pendingAbandon = 0;
      this.#host.sendControl(encodeAbandon(this.id, count));
      return true;
    }
    if (!this.#open && this.#queue.length === 0 && !this.#closeSent) {
      this.#closeSent = true;
      this.#host.sendControl(encodeFlowClose(this.id));
      return true;
    }
    return false;
  }

  /** @internal Sends the next fragment if the peer's window has room. Call after `_sendControl`. */
  _sendFragment(): boolean {
    const head = this.#queue.peek();
    if (this.#finished || head === undefined || head._bytes === null) return false;
    const allowed = this.#sendLimit - this.#sentPosition;
    if (allowed <= 0) return false;

    const bytes = head._bytes;
    const start = head._offset;
    // Past the window by at most a header, so a window smaller than one still makes progress.
    const room = Math.max(allowed - userDataHeaderLength(this.id), 1);
    const end = start + Math.min(this.#host.chunkSize, bytes.length - start, room);
    const last = end === bytes.length;
    const message = encodeUserData(this.id, !last, bytes.subarray(start, end));

    head._offset = end;
    this.#queuedBytes -= end - start;
    this.#sentPosition += message.length;
    head._markStarted();
    if (last) {
      this.#queue.shift();
      head._markSent();
      this.#awaitingAck.push({ receipt: head, end: this.#sentPosition });
    }
    this.#host.sendUserData(message);
    this.#checkWritable();
    return true;
  }

  /** @internal */
  _onAck(deltaByteCount: number, bufferAdvertisement: number): void {
    if (deltaByteCount > this.#sentPosition - this.#ackedPosition) {
      throw new ProtocolError('bad-ack', `flow ${this.id}: ack for ${deltaByteCount} bytes, only ${this.#sentPosition - this.#ackedPosition} unacknowledged`);
    }
    this.#ackedPosition += deltaByteCount;
    this.#peerWindow = bufferAdvertisement;
    this.#sendLimit = this.#ackedPosition + bufferAdvertisement;
    for (let next = this.#awaitingAck.peek(); next !== undefined && next.end <= this.#ackedPosition; next = this.#awaitingAck.peek()) {
      this.#awaitingAck.shift();
      next.receipt._markAcknowledged();
    }
    this.#host.queueTransmission(this);
  }

  /** @internal The receiver rejected the flow. */
  _onException(reasonCode: number | undefined, description: string | undefined): void {
    if (this.#exceptionReceived || this.#finished) return;
    this.#exceptionReceived = true;
    this.#open = false;
    this.abandonQueued();
    this.#trim();
    this.#host.queueTransmission(this);
    this.#host.defer(() => this.onException?.(reasonCode, description));
  }

  /**
   * @internal Abandons queued messages whose deadline passed; answers whether
   * any queued message still has a deadline to watch.
   */
  _checkDeadlines(now: number): boolean {
    if (this.#finished) return false;
    let watching = false;
    for (const receipt of this.#queue) {
      if (receipt.finished || !receipt._hasDeadline()) continue;
      if (!receipt._expireIfDue(now)) watching = true;
    }
    if (this.#queue.peek()?.abandoned) this.#host.queueTransmission(this);
    return watching;
  }

  /** @internal The peer acked flow close: the ID is free again. */
  _closeAcked(): void {
    this.#finished = true;
    this.#awaitingAck.clear();
  }

  /** @internal */
  _connectionClosed(): void {
    if (this.#finished) return;
    const notify = this.#open && !this.#exceptionReceived;
    this.#open = false;
    this.abandonQueued();
    this.#finished = true;
    this.#queue.clear();
    this.#awaitingAck.clear();
    if (notify) this.#host.defer(() => this.onException?.(undefined, undefined));
  }

  /** Drops abandoned messages from the head; each one counts toward the next abandon message. */
  #trim(now?: number): void {
    for (let head = this.#queue.peek(); head !== undefined; head = this.#queue.peek()) {
      if (now !== undefined) head._expireIfDue(now);
      if (!head.abandoned) return;
      this.#queue.shift();
      this.#pendingAbandon++;
    }
  }

  /** Head-drop: stale media is worth less than fresh, so the oldest messages go first. */
  #enforceLimits(): void {
    this.#trim();
    while (this.#queuedBytes > this.maxQueuedBytes || this.#queue.length > this.maxQueuedMessages) {
      const head = this.#queue.peek();
      if (head === undefined) return;
      head.abandon();
      this.#trim();
    }
  }

  #releaseAbandoned(receipt: WriteReceipt): void {
    if (receipt._bytes !== null) {
      this.#queuedBytes -= receipt._bytes.length - receipt._offset;
      receipt._bytes = null;
    }
    this.#host.queueTransmission(this);
    this.#checkWritable();
  }

  #checkWritable(): void {
    if (!this.#wantWritable || this.#queuedBytes >= this.sndbuf || !this.isOpen) return;
    this.#wantWritable = false;
    this.#host.defer(() => this.onWritable?.());
  }
}
