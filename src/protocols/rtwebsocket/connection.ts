/**
 * One RTWebSocket session over one message transport (a WebSocket): the flow
 * tables, the prioritised transmission scheduler, ack generation and the
 * RTT-driven cap on bytes in flight.
 *
 * All protocol work triggered by an API call or an incoming message runs in
 * one microtask afterwards, so writes made together are scheduled together
 * and strict priority holds even when nothing is blocked.
 */
import { ProtocolError } from './errors.js';
import {
  decodeMessage,
  encodeDataAck,
  encodeFlowCloseAck,
  encodePing,
  encodePingReply,
  encodeSetAckWindow,
  type Message,
} from './messages.js';
import { RecvFlow, type RecvFlowHost } from './recv-flow.js';
import { FlightController, MIN_ACK_WINDOW, RttEstimator } from './rtt.js';
import {
  type OpenFlowOptions,
  PRIORITY_LEVELS,
  Priority,
  SendFlow,
  type SendFlowHost,
} from './send-flow.js';
import { OneShot, realTiming, type Timing } from './timing.js';
import { encodeVlu, readVlu } from './vlu.js';

/** A reliable, ordered carrier of whole binary messages: a WebSocket, in practice. */
export interface RTWebSocketTransport {
  send(bytes: Uint8Array): void;
  /** Bytes accepted by `send` but not yet handed to the network. */
  bufferedAmount(): number;
  close(code: number, reason: string): void;
}

export interface ConnectionOptions {
  timing?: Timing;
  /** Largest user-data payload per fragment, bytes. Default 1400, the reference value. */
  chunkSize?: number;
  /** Longest an ack is delayed after user data, ms. Default and maximum 250 (the spec's limit). */
  delayedAckMs?: number;
  /** Nothing but pings, flow exceptions and ack-window requests goes to a transport buffering this much. Default 128 KiB. */
  maxBufferedAmount?: number;
  /** How often a transport that was over `maxBufferedAmount` is polled, ms. Default 10. */
  bufferPollMs?: number;
  /** How often queued messages' deadlines are checked while any has one, ms. Default 25. */
  deadlineCheckMs?: number;
  /** Floor and initial value of the bytes-in-flight cap. Default 64 KiB, the reference value. */
  minOutstanding?: number;
  /** Ceiling of the bytes-in-flight cap. Default 16 MiB. */
  maxOutstanding?: number;
  /** Standing queue the cap allows beyond the base RTT, ms. Default 50, the reference value. */
  maxAdditionalDelayMs?: number;
  /** Receive buffer of each new receive flow, bytes. Default 2097151, the reference value. */
  rcvbuf?: number;
  /** Largest message a receive flow reassembles; a larger one gets the flow rejected. Default 16 MiB. */
  maxMessageSize?: number;
  /** Largest flow metadata accepted; a flow with more is rejected. Default 64 KiB. */
  maxMetadataSize?: number;
  /** Receive flows beyond this are rejected; twice this many is a protocol error. Default 64. */
  maxRecvFlows?: number;
  /** Default per-flow limit on queued unsent bytes. Default 8 MiB. */
  maxQueuedBytes?: number;
  /** Default per-flow limit on queued messages. Default 4096. */
  maxQueuedMessages?: number;
  /** Pings awaiting a reply; a new one beyond this rejects the oldest. Default 16. */
  maxPendingPings?: number;
  /** Receives whatever an application callback throws. Default `console.error`. */
  onCallbackError?: (error: unknown) => void;
}

type Resolved = Required<Omit<ConnectionOptions, 'timing' | 'onCallbackError'>>;

const DEFAULTS: Resolved = {
  chunkSize: 1400,
  delayedAckMs: 250,
  maxBufferedAmount: 128 * 1024,
  bufferPollMs: 10,
  deadlineCheckMs: 25,
  minOutstanding: 64 * 1024,
  maxOutstanding: 16 * 1024 * 1024,
  maxAdditionalDelayMs: 50,
  rcvbuf: 2097151,
  maxMessageSize: 16 * 1024 * 1024,
  maxMetadataSize: 64 * 1024,
  maxRecvFlows: 64,
  maxQueuedBytes: 8 * 1024 * 1024,
  maxQueuedMessages: 4096,
  maxPendingPings: 16,
};

/** Spec-less but valid in browsers, which only let scripts close with 1000 or 3000–4999. */
export const CLOSE_NORMAL = 1000;
export const CLOSE_PROTOCOL_ERROR = 4002;

/** Free send flow IDs are topped up in batches, so a just-freed ID is not reused at once. */
const FLOW_ID_BATCH = 16;
const FLOW_ID_REFILL_BELOW = 4;

export interface ConnectionStats {
  readonly sendFlows: number;
  readonly recvFlows: number;
  /** Unsent bytes queued over all send flows. */
  readonly queuedBytes: number;
  /** Bytes held by receive flows still in the table. */
  readonly receiveBuffered: number;
  readonly bytesInFlight: number;
  readonly outstandingThreshold: number;
  readonly rtt: number;
  readonly baseRtt: number;
}

interface PendingPing {
  readonly sentAt: number;
  readonly resolve: (rtt: number) => void;
  readonly reject: (error: Error) => void;
}

function resolveOptions(options: ConnectionOptions): Resolved {
  const resolved = { ...DEFAULTS };
  for (const key of Object.keys(DEFAULTS) as (keyof Resolved)[]) {
    const value = options[key];
    if (value === undefined) continue;
    if (!Number.isFinite(value) || value < 0) throw new RangeError(`RTWebSocket option ${key} must be a non-negative number`);
    resolved[key] = value;
  }
  resolved.chunkSize = Math.max(1, Math.floor(resolved.chunkSize));
  resolved.delayedAckMs = Math.min(DEFAULTS.delayedAckMs, resolved.delayedAckMs);
  resolved.minOutstanding = Math.max(1, Math.floor(resolved.minOutstanding));
  resolved.maxOutstanding = Math.max(resolved.minOutstanding, Math.floor(resolved.maxOutstanding));
  return resolved;
}

function truncateReason(reason: string): string {
  // WebSocket close reasons are limited to 123 UTF-8 bytes; keep well inside in ASCII terms.
  return reason.length > 100 ? `${reason.slice(0, 100)}…` : reason;
}

export class RTWebSocketConnection {
  /** A new flow from the peer (not a return flow). Call `flow.accept()` inside, or it is rejected. */
  onRecvFlow?: (flow: RecvFlow) => void;
  /** The connection is gone: `error` says why if the peer broke the protocol or the transport failed. */
  onClose?: (error: Error | undefined) => void;

  readonly #transport: RTWebSocketTransport;
  readonly #timing: Timing;
  readonly #options: Resolved;
  readonly #onCallbackError: (error: unknown) => void;
  #closed = false;

  readonly #sendFlows = new Map<number, SendFlow>();
  readonly #freeFlowIds: number[] = [];
  #nextFlowId = 0;
  readonly #recvFlows = new Map<number, RecvFlow>();
  /** Receive flows still in the table or still holding data. */
  #liveRecvFlows = 0;

  readonly #work: SendFlow[][] = Array.from({ length: PRIORITY_LEVELS }, () => []);
  readonly #ackQueue = new Set<RecvFlow>();
  #transmitScheduled = false;
  #recvAccumulator = 0;
  #ackWindow = MIN_ACK_WINDOW;

  readonly #rtt = new RttEstimator();
  readonly #flight: FlightController;
  readonly #pings = new Map<number, PendingPing>();
  #nextPingId = 0;
  #lastPingRtt: number | undefined;

  readonly #delayedAck: OneShot;
  readonly #bufferPoll: OneShot;
  readonly #deadlineCheck: OneShot;
  readonly #sendHost: SendFlowHost;
  readonly #recvHost: RecvFlowHost;

  constructor(transport: RTWebSocketTransport, options: ConnectionOptions = {}) {
    this.#transport = transport;
    this.#timing = options.timing ?? realTiming;
    this.#options = resolveOptions(options);
    this.#onCallbackError = options.onCallbackError ?? ((error) => console.error('RTWebSocket callback failed', error));
    this.#flight = new FlightController(this.#rtt, this.#options);
    this.#delayedAck = new OneShot(this.#timing, () => this.#scheduleTransmit());
    this.#bufferPoll = new OneShot(this.#timing, () => this.#scheduleTransmit());
    this.#deadlineCheck = new OneShot(this.#timing, () => this.#checkDeadlines());

    const defer = (callback: () => void) => queueMicrotask(() => this.#invoke(callback));
    this.#sendHost = {
      chunkSize: this.#options.chunkSize,
      now: () => this.#timing.now(),
      defer,
      sendControl: (bytes) => this.#send(bytes),
      sendUserData: (bytes) => {
        this.#flight.onSent(bytes.length);
        this.#send(bytes);
      },
      queueTransmission: (flow) => this.#queueTransmission(flow),
      armDeadlineCheck: () => {
        if (!this.#closed) this.#deadlineCheck.arm(this.#options.deadlineCheckMs);
      },
    };
    this.#recvHost = {
      maxMessageSize: this.#options.maxMessageSize,
      defer,
      invoke: (callback) => this.#invoke(callback),
      queueAck: (flow, immediate) => this.#queueAck(flow, immediate),
      sendControl: (bytes) => this.#send(bytes),
      openReturnFlow: (flow, metadata, flowOptions) => this.#openSendFlow(metadata, flowOptions, flow.id),
      released: () => {
        this.#liveRecvFlows--;
      },
    };
  }

  get isOpen(): boolean {
    return !this.#closed;
  }

  /** Smoothed RTT from ack timing and pings, ms (100 until measured). */
  get rtt(): number {
    return this.#rtt.smoothed;
  }

  /** Least RTT seen over the last five minutes, ms. */
  get baseRtt(): number {
    return this.#rtt.base;
  }

  /** RTT of the latest answered ping, ms. */
  get lastPingRtt(): number | undefined {
    return this.#lastPingRtt;
  }

  /** User-data bytes sent and not yet acknowledged, over all flows. */
  get bytesInFlight(): number {
    return this.#flight.bytesInFlight;
  }

  /** Current cap on `bytesInFlight`. */
  get outstandingThreshold(): number {
    return this.#flight.threshold;
  }

  stats(): ConnectionStats {
    let queuedBytes = 0;
    for (const flow of this.#sendFlows.values()) queuedBytes += flow.bufferLength;
    let receiveBuffered = 0;
    for (const flow of this.#recvFlows.values()) receiveBuffered += flow.bufferLength;
    return {
      sendFlows: this.#sendFlows.size,
      recvFlows: this.#recvFlows.size,
      queuedBytes,
      receiveBuffered,
      bytesInFlight: this.bytesInFlight,
      outstandingThreshold: this.outstandingThreshold,
      rtt: this.rtt,
      baseRtt: this.baseRtt,
    };
  }

  openFlow(metadata: Uint8Array, options?: OpenFlowOptions): SendFlow {
    return this.#openSendFlow(metadata, options, undefined);
  }

  /** Resolves with the round trip in ms when the peer echoes the ping. */
  ping(): Promise<number> {
    if (this.#closed) return Promise.reject(new Error('RTWebSocket connection is closed'));
    if (this.#pings.size >= Math.max(1, this.#options.maxPendingPings)) {
      const [oldestId, oldest] = this.#pings.entries().next().value as [number, PendingPing];
      this.#pings.delete(oldestId);
      oldest.reject(new Error('RTWebSocket ping superseded by newer pings'));
    }
    const id = this.#nextPingId++;
    const reply = new Promise<number>((resolve, reject) => {
      this.#pings.set(id, { sentAt: this.#timing.now(), resolve, reject });
    });
    this.#send(encodePing(encodeVlu(id)));
    return reply;
  }

  /** Entry point for every binary message the transport receives. */
  onMessage(bytes: Uint8Array): void {
    // Empty messages carry no type; the reference implementations skip them too.
    if (this.#closed || bytes.length === 0) return;
    try {
      this.#dispatch(decodeMessage(bytes), bytes.length);
    } catch (error) {
      if (!(error instanceof ProtocolError)) throw error;
      this.#fail(error);
    }
  }

  /** Tells the connection its transport closed underneath it. */
  transportClosed(): void {
    this.#shutdown(undefined);
  }

  /** Closes the transport at once; open flows get `onException`, receive flows complete. */
  close(code = CLOSE_NORMAL, reason = ''): void {
    this.#shutdown(undefined, code, reason);
  }

  #dispatch(message: Message, wireLength: number): void {
    switch (message.type) {
      case 'ping':
        // Best effort: a peer must not be able to fill our send buffer with echoes.
        if (!this.#transportFull()) this.#send(encodePingReply(message.payload));
        return;
      case 'ping-reply':
        this.#onPingReply(message.payload);
        return;
      case 'set-ack-window':
        this.#ackWindow = Math.max(message.ackWindow, MIN_ACK_WINDOW);
        this.#recvAccumulator = 0;
        return;
      case 'flow-open':
        this.#onFlowOpen(message.flowId, message.metadata, message.returnAssociation);
        return;
      case 'user-data': {
        const flow = this.#recvFlow(message.flowId);
        this.#recvAccumulator += wireLength;
        if (this.#recvAccumulator >= this.#ackWindow) {
          this.#recvAccumulator %= this.#ackWindow;
          this.#scheduleTransmit();
        }
        flow._onData(message.more, message.data, wireLength);
        return;
      }
      case 'abandon':
        this.#recvFlow(message.flowId)._onAbandon(message.count);
        return;
      case 'flow-close': {
        const flow = this.#recvFlow(message.flowId);
        this.#recvFlows.delete(message.flowId);
        flow._onFlowClose();
        return;
      }
      case 'data-ack':
        this.#sendFlow(message.flowId)._onAck(message.deltaByteCount, message.bufferAdvertisement);
        this.#flight.onAcked(message.deltaByteCount, this.#timing.now());
        return;
      case 'flow-close-ack': {
        const flow = this.#sendFlows.get(message.flowId);
        if (flow === undefined || !flow._closeSent) {
          throw new ProtocolError('bad-close-ack', `close ack for flow ${message.flowId}, which did not close`);
        }
        this.#sendFlows.delete(message.flowId);
        flow._closeAcked();
        this.#freeFlowIds.push(message.flowId);
        return;
      }
      case 'flow-exception':
        this.#sendFlow(message.flowId)._onException(message.reasonCode, message.description);
        return;
      case 'unknown':
        return;
    }
  }

  #recvFlow(flowId: number): RecvFlow {
    const flow = this.#recvFlows.get(flowId);
    if (flow === undefined) throw new ProtocolError('unknown-flow', `no receive flow ${flowId}`);
    return flow;
  }

  #sendFlow(flowId: number): SendFlow {
    const flow = this.#sendFlows.get(flowId);
    if (flow === undefined) throw new ProtocolError('unknown-flow', `no send flow ${flowId}`);
    return flow;
  }

  #onFlowOpen(flowId: number, metadata: Uint8Array, returnAssociation: number | undefined): void {
    if (this.#recvFlows.has(flowId)) throw new ProtocolError('duplicate-flow', `flow ${flowId} is already open`);
    if (this.#liveRecvFlows >= 2 * this.#options.maxRecvFlows) {
      throw new ProtocolError('too-many-flows', `peer keeps opening flows past ${this.#options.maxRecvFlows}`);
    }
    const oversized = metadata.length > this.#options.maxMetadataSize;
    const association = returnAssociation === undefined ? undefined : this.#sendFlows.get(returnAssociation);
    const flow = new RecvFlow(
      this.#recvHost,
      flowId,
      oversized ? new Uint8Array(0) : new Uint8Array(metadata),
      association,
      this.#options.rcvbuf,
    );
    this.#recvFlows.set(flowId, flow);
    this.#liveRecvFlows++;
    this.#queueAck(flow, true);

    if (oversized) return flow.close(0, 'metadata too large');
    if (this.#liveRecvFlows > this.#options.maxRecvFlows) return flow.close(0, 'too many flows');
    if (returnAssociation !== undefined && !association?.isOpen) return flow.close(0, 'return association not found');

    this.#invoke(() => (association === undefined ? this.onRecvFlow?.(flow) : association.onRecvFlow?.(flow)));
    if (!flow.isOpen) flow.close(0, 'not accepted');
  }

  #onPingReply(payload: Uint8Array): void {
    let id: number;
    try {
      const read = readVlu(payload, 0);
      if (read.next !== payload.length) return;
      id = read.value;
    } catch {
      return; // not one of ours
    }
    const ping = this.#pings.get(id);
    if (ping === undefined) return;
    this.#pings.delete(id);
    const now = this.#timing.now();
    const rtt = Math.max(now - ping.sentAt, 0);
    this.#lastPingRtt = rtt;
    this.#rtt.addSample(rtt, now);
    ping.resolve(rtt);
  }

  #openSendFlow(metadata: Uint8Array, options: OpenFlowOptions | undefined, returnAssociation: number | undefined): SendFlow {
    if (this.#closed) throw new Error('RTWebSocket connection is closed');
    const id = this.#allocateFlowId();
    const flow = new SendFlow(this.#sendHost, id, new Uint8Array(metadata), returnAssociation, options?.priority ?? Priority.ROUTINE, {
      maxQueuedBytes: options?.maxQueuedBytes ?? this.#options.maxQueuedBytes,
      maxQueuedMessages: options?.maxQueuedMessages ?? this.#options.maxQueuedMessages,
    });
    this.#sendFlows.set(id, flow);
    this.#queueTransmission(flow);
    return flow;
  }

  #allocateFlowId(): number {
    if (this.#freeFlowIds.length < FLOW_ID_REFILL_BELOW) {
      for (let i = 0; i < FLOW_ID_BATCH; i++) this.#freeFlowIds.push(this.#nextFlowId++);
    }
    return this.#freeFlowIds.shift()!;
  }

  #queueAck(flow: RecvFlow, immediate: boolean): void {
    if (this.#closed) return;
    this.#ackQueue.add(flow);
    if (immediate) this.#scheduleTransmit();
    else this.#delayedAck.arm(this.#options.delayedAckMs);
  }

  #queueTransmission(flow: SendFlow): void {
    if (this.#closed) return;
    const level = this.#work[flow.priority]!;
    if (!level.includes(flow)) level.push(flow);
    this.#scheduleTransmit();
  }

  #scheduleTransmit(): void {
    if (this.#transmitScheduled || this.#closed) return;
    this.#transmitScheduled = true;
    queueMicrotask(() => this.#transmit());
  }

  /**
   * One pass: every pending ack, then flows from the highest priority down,
   * one message per flow per turn so flows of equal priority share fairly.
   * Control messages pass the bytes-in-flight cap; user data does not.
   */
  #transmit(): void {
    this.#transmitScheduled = false;
    if (this.#closed) return;
    // Acks wait too: held here they merge into one per flow, in the socket they would pile up.
    if (this.#transportFull()) {
      this.#bufferPoll.arm(this.#options.bufferPollMs);
      return;
    }
    this.#flushAcks();
    const now = this.#timing.now();
    let transportFull = false;
    levels: for (let priority = PRIORITY_LEVELS - 1; priority >= 0; priority--) {
      const level = this.#work[priority]!;
      let i = 0;
      while (i < level.length) {
        if (this.#closed) return;
        if (this.#transportFull()) {
          transportFull = true;
          break levels;
        }
        const flow = level[i]!;
        if (flow.priority !== priority || !flow._active) {
          level.splice(i, 1);
        } else if (flow._sendControl(now) || (this.#flight.canSend && flow._sendFragment())) {
          level.splice(i, 1);
          level.push(flow);
        } else if (!this.#flight.canSend && flow.queuedMessages > 0) {
          i++; // keep its turn for when acks open the cap
        } else {
          level.splice(i, 1); // idle, or waiting for the peer's window: an ack or write requeues it
        }
      }
    }
    if (this.#closed) return;
    const ackWindow = this.#flight.startMeasurement(now);
    if (ackWindow !== undefined) this.#send(encodeSetAckWindow(ackWindow));
    if (transportFull) this.#bufferPoll.arm(this.#options.bufferPollMs);
  }

  #transportFull(): boolean {
    return this.#transport.bufferedAmount() >= this.#options.maxBufferedAmount;
  }

  /** The spec asks for all pending acks to go together. */
  #flushAcks(): void {
    this.#delayedAck.cancel();
    if (this.#ackQueue.size === 0) return;
    const flows = [...this.#ackQueue];
    this.#ackQueue.clear();
    for (const flow of flows) {
      const ack = flow._takeAck();
      if (ack === null) continue;
      this.#send(encodeDataAck(flow.id, ack.deltaByteCount, ack.bufferAdvertisement));
      if (ack.closeAck) this.#send(encodeFlowCloseAck(flow.id));
    }
  }

  #checkDeadlines(): void {
    if (this.#closed) return;
    const now = this.#timing.now();
    let watching = false;
    for (const flow of this.#sendFlows.values()) {
      if (flow._checkDeadlines(now)) watching = true;
    }
    if (watching) this.#deadlineCheck.arm(this.#options.deadlineCheckMs);
  }

  #send(bytes: Uint8Array): void {
    if (this.#closed) return;
    try {
      this.#transport.send(bytes);
    } catch (error) {
      this.#shutdown(error instanceof Error ? error : new Error(String(error)), CLOSE_PROTOCOL_ERROR, 'transport send failed');
    }
  }

  #invoke(callback: () => void): void {
    try {
      callback();
    } catch (error) {
      this.#onCallbackError(error);
    }
  }

  #fail(error: ProtocolError): void {
    this.#shutdown(error, CLOSE_PROTOCOL_ERROR, truncateReason(`RTWebSocket protocol error: ${error.message}`));
  }

  /** Without a close code the transport is already gone. */
  #shutdown(error: Error | undefined, code?: number, reason = ''): void {
    if (this.#closed) return;
    // Closed before the transport hears of it: a transport whose close re-enters close() finds nothing to do.
    this.#closed = true;
    if (code !== undefined) {
      try {
        this.#transport.close(code, reason);
      } catch (closeError) {
        this.#onCallbackError(closeError);
      }
    }
    this.#delayedAck.cancel();
    this.#bufferPoll.cancel();
    this.#deadlineCheck.cancel();
    for (const flow of this.#sendFlows.values()) flow._connectionClosed();
    for (const flow of this.#recvFlows.values()) flow._connectionClosed();
    this.#sendFlows.clear();
    this.#recvFlows.clear();
    for (const level of this.#work) level.length = 0;
    this.#ackQueue.clear();
    for (const ping of this.#pings.values()) ping.reject(new Error('RTWebSocket connection closed'));
    this.#pings.clear();
    queueMicrotask(() => this.#invoke(() => this.onClose?.(error)));
  }
}
