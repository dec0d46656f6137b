/**
 * The receiving half of a flow: reassembles fragments into messages,
 * numbers them as the sender did, and advertises how much more it will take.
 */
import { ProtocolError } from './errors.js';
import { Fifo } from './fifo.js';
import { encodeFlowException } from './messages.js';
import { INITIAL_PEER_WINDOW, type OpenFlowOptions, type SendFlow } from './send-flow.js';

/** What a receive flow needs from its connection. */
export interface RecvFlowHost {
  readonly maxMessageSize: number;
  defer(callback: () => void): void;
  /** Runs a user callback now, reporting rather than propagating what it throws. */
  invoke(callback: () => void): void;
  queueAck(flow: RecvFlow, immediate: boolean): void;
  sendControl(bytes: Uint8Array): void;
  openReturnFlow(flow: RecvFlow, metadata: Uint8Array, options?: OpenFlowOptions): SendFlow;
  /** The flow left the connection's table and holds no data: it no longer counts against the flow limit. */
  released(flow: RecvFlow): void;
}

export interface AckInfo {
  readonly deltaByteCount: number;
  readonly bufferAdvertisement: number;
  /** The peer closed the flow: a close ack follows this ack. */
  readonly closeAck: boolean;
}

interface Partial {
  readonly number: number;
  readonly chunks: Uint8Array[];
  size: number;
}

interface Complete {
  readonly number: number;
  readonly bytes: Uint8Array;
}

function join(chunks: readonly Uint8Array[], size: number): Uint8Array {
  if (chunks.length === 1) return chunks[0]!;
  const out = new Uint8Array(size);
  let offset = 0;
  for (const chunk of chunks) {
    out.set(chunk, offset);
    offset += chunk.length;
  }
  return out;
}

export class RecvFlow {
  readonly id: number;
  readonly metadata: Uint8Array;
  /** Our send flow this one answers, when the peer opened it as a return flow. */
  readonly associatedSendFlow: SendFlow | undefined;

  /**
   * Each complete message, in order, with the sender's message number: a gap
   * in the numbers is messages the sender abandoned. `bytes` is the
   * receiver's to keep.
   */
  onMessage?: (bytes: Uint8Array, messageNumber: number) => void;
  /** The sender closed the flow and every message before the close was delivered. */
  onComplete?: () => void;

  readonly #host: RecvFlowHost;
  #accepted = false;
  #open = true;
  /** The peer closed the flow (or the connection went away): no more data. */
  #complete = false;
  #completeDelivered = false;
  #closeAckSent = false;
  #released = false;
  #paused = false;
  #rcvbuf: number;
  /** Largest window this flow ever allowed, for telling a misbehaving peer from a slow reader. */
  #peakWindow: number;
  #partial: Partial | null = null;
  readonly #ready = new Fifo<Complete>();
  #bufferLength = 0;
  #receivedSinceAck = 0;
  #ackThreshold = 0;
  #nextMessageNumber = 1;
  #deliveryScheduled = false;

  /** @internal Created by the connection when the peer opens a flow. */
  constructor(host: RecvFlowHost, id: number, metadata: Uint8Array, associatedSendFlow: SendFlow | undefined, rcvbuf: number) {
    this.#host = host;
    this.id = id;
    this.metadata = metadata;
    this.associatedSendFlow = associatedSendFlow;
    this.#rcvbuf = rcvbuf;
    this.#peakWindow = Math.max(rcvbuf, INITIAL_PEER_WINDOW);
  }

  /** Takes the flow. Only effective during the `onRecvFlow` callback that announced it. */
  accept(): void {
    if (this.#open) this.#accepted = true;
  }

  get isOpen(): boolean {
    return this.#open && this.#accepted;
  }

  /** The sender closed the flow. */
  get isComplete(): boolean {
    return this.#complete;
  }

  /**
   * Rejects the flow: the sender gets a flow exception carrying `reasonCode`
   * and `description` (each optional) and abandons what it had queued.
   * Undelivered messages are dropped.
   */
  close(reasonCode?: number, description?: string): void {
    if (!this.#open) return;
    this.#open = false;
    this.#dropBuffers();
    this.rcvbuf = 0;
    if (!this.#complete) this.#host.sendControl(encodeFlowException(this.id, reasonCode, description));
    this.#maybeRelease();
  }

  /** Opens a flow back to the sender, announced there on this flow's `SendFlow.onRecvFlow`. */
  openReturnFlow(metadata: Uint8Array, options?: OpenFlowOptions): SendFlow {
    if (!this.isOpen || this.#complete) throw new Error(`RTWebSocket receive flow ${this.id} is not open`);
    return this.#host.openReturnFlow(this, metadata, options);
  }

  get paused(): boolean {
    return this.#paused;
  }

  /**
   * While paused, complete messages wait here and the advertised window
   * shrinks by what they hold, so a slow reader slows the sender.
   */
  set paused(value: boolean) {
    const wasPaused = this.#paused;
    this.#paused = value;
    if (value) return;
    this.#scheduleDelivery();
    if (wasPaused) this.#host.queueAck(this, true);
  }

  /** Receive buffer size, bytes: what the sender may have unacknowledged in flight. */
  get rcvbuf(): number {
    return this.#rcvbuf;
  }

  set rcvbuf(value: number) {
    const rcvbuf = Number.isFinite(value) ? Math.max(0, Math.floor(value)) : 0;
    if (rcvbuf !== this.#rcvbuf) this.#host.queueAck(this, true);
    this.#rcvbuf = rcvbuf;
    this.#peakWindow = Math.max(this.#peakWindow, rcvbuf);
  }

  /** The window the next ack will advertise. */
  get advertisement(): number {
    return this.#paused ? Math.max(this.#rcvbuf - this.#bufferLength, 0) : this.#rcvbuf;
  }

  /** Bytes held: the message being reassembled plus complete undelivered ones. */
  get bufferLength(): number {
    return this.#bufferLength;
  }

  /** @internal One user-data fragment; `wireLength` is the whole protocol message. */
  _onData(more: boolean, data: Uint8Array, wireLength: number): void {
    this.#receivedSinceAck += wireLength;
    // A rejected flow still acks what arrives, or the sender's bytes in flight never drain.
    if (this.isOpen && !this.#complete) this.#append(more, data);
    this.#host.queueAck(this, this.#receivedSinceAck >= this.#ackThreshold);
  }

  /** @internal */
  _onAbandon(count: number): void {
    let neverSent = count;
    if (this.#partial !== null) {
      this.#bufferLength -= this.#partial.size;
      this.#partial = null;
      neverSent--;
    }
    if (this.#nextMessageNumber + neverSent > Number.MAX_SAFE_INTEGER) {
      throw new ProtocolError('message-number-overflow', `flow ${this.id}: abandon count ${count} overflows message numbers`);
    }
    this.#nextMessageNumber += neverSent;
    this.#host.queueAck(this, true);
  }

  /** @internal The peer sent flow close; the connection already forgot the ID. */
  _onFlowClose(): void {
    this.#complete = true;
    if (this.#partial !== null) {
      this.#bufferLength -= this.#partial.size;
      this.#partial = null;
    }
    this.#host.queueAck(this, true);
    this.#scheduleDelivery();
    this.#maybeRelease();
  }

  /** @internal Builds the next ack, or null once the close ack went out. */
  _takeAck(): AckInfo | null {
    if (this.#closeAckSent) return null;
    const bufferAdvertisement = this.advertisement;
    this.#ackThreshold = Math.floor(bufferAdvertisement / 2);
    const deltaByteCount = this.#receivedSinceAck;
    this.#receivedSinceAck = 0;
    const closeAck = this.#complete;
    if (closeAck) this.#closeAckSent = true;
    return { deltaByteCount, bufferAdvertisement, closeAck };
  }

  /** @internal Whatever fully arrived is still delivered, then `onComplete`. */
  _connectionClosed(): void {
    this.#closeAckSent = true;
    this._onFlowClose();
  }

  #append(more: boolean, data: Uint8Array): void {
    let partial = this.#partial;
    if (partial === null) {
      partial = { number: this.#nextMessageNumber++, chunks: [], size: 0 };
      this.#partial = partial;
    }
    if (partial.size + data.length > this.#host.maxMessageSize) {
      this.close(0, 'message too large');
      return;
    }
    if (data.length > 0) {
      // A copy, so a small fragment never pins a large transport buffer.
      partial.chunks.push(new Uint8Array(data));
      partial.size += data.length;
      this.#bufferLength += data.length;
    }
    if (this.#bufferLength > this.#peakWindow + this.#host.maxMessageSize) {
      throw new ProtocolError('flow-control', `flow ${this.id}: peer sent ${this.#bufferLength} bytes past a ${this.#peakWindow}-byte window`);
    }
    if (more) return;
    this.#partial = null;
    this.#ready.push({ number: partial.number, bytes: join(partial.chunks, partial.size) });
    this.#scheduleDelivery();
  }

  #scheduleDelivery(): void {
    if (this.#deliveryScheduled || this.#paused) return;
    this.#deliveryScheduled = true;
    this.#host.defer(() => this.#deliver());
  }

  #deliver(): void {
    this.#deliveryScheduled = false;
    while (!this.#paused && this.isOpen && this.#ready.length > 0) {
      const message = this.#ready.shift()!;
      this.#bufferLength -= message.bytes.length;
      this.#host.invoke(() => this.onMessage?.(message.bytes, message.number));
    }
    if (this.#complete && this.#ready.length === 0 && !this.#completeDelivered) {
      this.#completeDelivered = true;
      if (this.isOpen) this.#host.invoke(() => this.onComplete?.());
      this.#open = false;
      this.#dropBuffers();
    }
    this.#maybeRelease();
  }

  #dropBuffers(): void {
    this.#partial = null;
    this.#ready.clear();
    this.#bufferLength = 0;
  }

  #maybeRelease(): void {
    if (this.#released || !this.#complete || this.#bufferLength > 0) return;
    this.#released = true;
    this.#host.released(this);
  }
}
