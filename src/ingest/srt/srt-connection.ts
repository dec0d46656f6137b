/**
 * One SRT publisher after its handshake (draft-sharabayko-srt §4.4–4.8, live
 * mode, receiving side): decrypts and buffers data packets, acknowledges
 * them every 10 ms, reports losses at once and periodically until they are
 * filled, delivers by timestamp after the negotiated latency, measures RTT
 * from ACKACKs, and ends on SHUTDOWN or when the caller falls silent.
 */
import { ExtensionType } from '../../protocols/srt/handshake.js';
import { decryptPayload, parseKeyMaterial, unwrapKeys, type StreamKeys } from '../../protocols/srt/key-material.js';
import { ControlType, controlPacket, EncryptionKey, type ControlPacket, type DataPacket, type SrtPacket } from '../../protocols/srt/packet.js';
import { ReceiveBuffer, type ReceiveStats } from '../../protocols/srt/receive-buffer.js';

/** The SYN interval: full ACKs and the housekeeping tick. */
const TICK_MS = 10;
/** Periodic NAKs repeat no faster than this (the draft's minimum). */
const MIN_NAK_INTERVAL_US = 20_000;
const KEEPALIVE_INTERVAL_US = 1_000_000;
/** ACK numbers whose ACKACK may still come; older ones no longer give a useful RTT. */
const ACK_HISTORY = 64;

export interface SrtConnectionOptions {
  readonly socketId: number;
  readonly peerSocketId: number;
  readonly initialSeq: number;
  readonly latencyUs: number;
  readonly windowPackets: number;
  /** Local µs at which the caller's clock read 0 (its handshake's arrival minus its timestamp). */
  readonly timeBaseUs: number;
  readonly keys: StreamKeys | undefined;
  /** With encryption: the passphrase, to unwrap the keys the caller rotates to (KMREQ in a user-defined control packet). */
  readonly passphrase?: string;
  /** The conclusion response, sent again whenever the caller repeats its conclusion. */
  readonly handshakeResponse: Uint8Array;
  readonly peerIdleTimeoutMs: number;
  send(datagram: Uint8Array): void;
  /** Delivered payloads, in order: MPEG-TS bytes. */
  deliver(payload: Uint8Array): void;
  /** A datagram of this connection was dropped: counted under `reason`. */
  dropped(reason: string): void;
  closed(reason: string): void;
}

export const nowUs = (): number => Math.round(performance.now() * 1000);

export class SrtConnection {
  readonly created = new Date();
  bytesIn = 0;
  private readonly buffer: ReceiveBuffer;
  private readonly startUs = nowUs();
  private readonly timer: NodeJS.Timeout;
  private deliveryTimer: NodeJS.Timeout | undefined;
  private lastHeardUs = nowUs();
  private lastSentUs = 0;
  private lastAckedSeq: number | undefined;
  private ackNumber = 0;
  private readonly sentAcks = new Map<number, number>();
  private rttUs = 100_000;
  private rttVarUs = 50_000;
  private packetsThisSecond = 0;
  private bytesThisSecond = 0;
  private rateWindowStartUs = nowUs();
  private packetRate = 0;
  private byteRate = 0;
  private done = false;
  private keys: StreamKeys | undefined;

  constructor(private readonly o: SrtConnectionOptions) {
    this.keys = o.keys;
    this.buffer = new ReceiveBuffer({
      initialSeq: o.initialSeq,
      latencyUs: o.latencyUs,
      timeBaseUs: o.timeBaseUs,
      windowPackets: o.windowPackets,
      // Readers are paced by timestamps further on; holding every packet for the whole latency would only add it.
      inOrderAtOnce: true,
    });
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  get stats(): Readonly<ReceiveStats> {
    return this.buffer.stats;
  }

  get rtt(): number {
    return this.rttUs;
  }

  get closed(): boolean {
    return this.done;
  }

  handle(packet: SrtPacket, size: number): void {
    if (this.done) return;
    this.lastHeardUs = nowUs();
    this.bytesIn += size;
    if (packet.control) this.control(packet);
    else this.data(packet);
  }

  /** Ends the connection from this side: the caller hears SHUTDOWN. */
  close(reason: string): void {
    if (this.done) return;
    this.sendControl(ControlType.shutdown, 0, new Uint8Array(4));
    this.finish(reason);
  }

  private data(p: DataPacket): void {
    let payload = p.payload;
    if (p.key !== EncryptionKey.none) {
      const key = p.key === EncryptionKey.odd ? this.keys?.odd : this.keys?.even;
      if (key === undefined || this.keys === undefined) return this.o.dropped('encrypted packet with a key the caller did not provide');
      payload = decryptPayload(key, this.keys.salt, p.seq, payload);
    } else if (this.keys !== undefined) {
      return this.o.dropped('unencrypted packet on an encrypted connection');
    }
    this.packetsThisSecond++;
    this.bytesThisSecond += payload.length;
    const { verdict, lost } = this.buffer.receive(p.seq, p.timestamp, payload);
    if (verdict === 'out-of-window') return this.o.dropped('data packet outside the receive window');
    if (lost !== undefined) {
      this.sendNak([lost]);
      this.buffer.reported(nowUs());
    }
    if (verdict === 'stored') this.scheduleDelivery();
  }

  private control(p: ControlPacket): void {
    switch (p.type) {
      case ControlType.keepalive:
        return;
      case ControlType.ackack:
        return this.ackack(p.typeInfo);
      case ControlType.shutdown:
        return this.finish('caller shut the connection down');
      case ControlType.dropreq: {
        if (p.cif.length < 8) return this.o.dropped('truncated DROPREQ');
        const view = new DataView(p.cif.buffer, p.cif.byteOffset, p.cif.byteLength);
        this.buffer.senderDropped(view.getUint32(0) & 0x7fff_ffff, view.getUint32(4) & 0x7fff_ffff);
        return;
      }
      case ControlType.handshake:
        // Our conclusion response was lost: the caller repeats its conclusion.
        this.o.send(this.o.handshakeResponse);
        return;
      case ControlType.userDefined:
        if (p.subtype === ExtensionType.kmreq) return this.rekey(p.cif);
        return this.o.dropped(`user-defined control subtype ${p.subtype} not handled`);
      case ControlType.ack:
      case ControlType.nak:
        // ACKs and loss reports are about data we would send, and a publisher is sent none.
        return this.o.dropped(`${p.type === ControlType.ack ? 'ACK' : 'NAK'} from a publisher, which is sent no data`);
      default:
        return this.o.dropped(`control type 0x${p.type.toString(16)} not handled`);
    }
  }

  /**
   * The caller announces its next stream key (it alternates even and odd
   * every `kmrefreshrate` packets): unwrap it with the passphrase and answer
   * with the same material, as in the handshake.
   */
  private rekey(body: Uint8Array): void {
    if (this.keys === undefined || this.o.passphrase === undefined) return this.o.dropped('key material on an unencrypted connection');
    const fresh = unwrapKeys(parseKeyMaterial(body), this.o.passphrase);
    if (fresh === undefined) return this.o.dropped('key material that the passphrase does not unwrap');
    this.keys = { even: fresh.even ?? this.keys.even, odd: fresh.odd ?? this.keys.odd, salt: fresh.salt };
    this.sendControl(ControlType.userDefined, 0, body, ExtensionType.kmrsp);
  }

  private tick(): void {
    if (this.done) return;
    const now = nowUs();
    if (now - this.lastHeardUs > this.o.peerIdleTimeoutMs * 1000) {
      this.close(`no packet from the caller for ${this.o.peerIdleTimeoutMs} ms`);
      return;
    }
    this.deliverDue(now);
    this.updateRates(now);
    const ackSeq = this.buffer.ackSeq;
    if (ackSeq !== this.lastAckedSeq) this.sendAck(ackSeq, now);
    const interval = Math.max(MIN_NAK_INTERVAL_US, (this.rttUs + 4 * this.rttVarUs) / 2);
    const ranges = this.buffer.nakRanges(now, interval);
    if (ranges.length > 0) this.sendNak(ranges);
    if (now - this.lastSentUs > KEEPALIVE_INTERVAL_US) this.sendControl(ControlType.keepalive, 0);
  }

  private scheduleDelivery(): void {
    const now = nowUs();
    this.deliverDue(now);
    const due = this.buffer.nextDue();
    if (due === undefined || this.deliveryTimer !== undefined) return;
    // The tick would deliver too, up to 10 ms late; latency is what SRT is chosen for.
    const waitMs = (due - now) / 1000;
    if (waitMs >= TICK_MS) return;
    this.deliveryTimer = setTimeout(() => {
      this.deliveryTimer = undefined;
      if (!this.done) this.deliverDue(nowUs());
    }, Math.max(0, Math.ceil(waitMs)));
  }

  private deliverDue(now: number): void {
    this.buffer.deliver(now, (payload) => {
      if (!this.done) this.o.deliver(payload);
    });
  }

  private sendAck(ackSeq: number, now: number): void {
    this.lastAckedSeq = ackSeq;
    this.ackNumber = (this.ackNumber + 1) >>> 0 || 1;
    this.sentAcks.set(this.ackNumber, now);
    if (this.sentAcks.size > ACK_HISTORY) this.sentAcks.delete(this.sentAcks.keys().next().value!);
    const cif = new Uint8Array(28);
    const view = new DataView(cif.buffer);
    view.setUint32(0, ackSeq);
    view.setUint32(4, this.rttUs);
    view.setUint32(8, this.rttVarUs);
    view.setUint32(12, this.buffer.available);
    view.setUint32(16, this.packetRate);
    view.setUint32(20, this.packetRate);
    view.setUint32(24, this.byteRate);
    this.sendControl(ControlType.ack, this.ackNumber, cif);
  }

  private ackack(ackNumber: number): void {
    const sentAt = this.sentAcks.get(ackNumber);
    if (sentAt === undefined) return;
    this.sentAcks.delete(ackNumber);
    const sample = nowUs() - sentAt;
    this.rttVarUs = Math.round((3 * this.rttVarUs + Math.abs(this.rttUs - sample)) / 4);
    this.rttUs = Math.round((7 * this.rttUs + sample) / 8);
  }

  private sendNak(ranges: ReadonlyArray<readonly [number, number]>): void {
    const words: number[] = [];
    for (const [from, to] of ranges) {
      if (from === to) words.push(from);
      else words.push((0x8000_0000 | from) >>> 0, to);
    }
    const cif = new Uint8Array(words.length * 4);
    const view = new DataView(cif.buffer);
    words.forEach((w, i) => view.setUint32(i * 4, w));
    this.sendControl(ControlType.nak, 0, cif);
  }

  private sendControl(type: number, typeInfo: number, cif?: Uint8Array, subtype = 0): void {
    const now = nowUs();
    this.lastSentUs = now;
    this.o.send(controlPacket(type, typeInfo, now - this.startUs, this.o.peerSocketId, cif, subtype));
  }

  private updateRates(now: number): void {
    const elapsed = now - this.rateWindowStartUs;
    if (elapsed < 1_000_000) return;
    this.packetRate = Math.round((this.packetsThisSecond * 1_000_000) / elapsed);
    this.byteRate = Math.round((this.bytesThisSecond * 1_000_000) / elapsed);
    this.packetsThisSecond = 0;
    this.bytesThisSecond = 0;
    this.rateWindowStartUs = now;
  }

  private finish(reason: string): void {
    if (this.done) return;
    this.done = true;
    clearInterval(this.timer);
    if (this.deliveryTimer !== undefined) clearTimeout(this.deliveryTimer);
    this.o.closed(reason);
  }
}
