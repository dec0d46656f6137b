/**
 * A lean `wt-fmp4` viewer for load runs: one QUIC connection per session,
 * driven directly through quiche's native binding (the JS wrapper costs
 * web-stream objects and several event dispatches per chunk), with
 * HTTP/3 framing from src/protocols/http3.
 *
 * Stream bytes are parsed in place in one read buffer shared by every reader
 * of the process (reads are synchronous), and media segments are counted,
 * not kept: the only allocations per packet are the ones the binding makes
 * for its return values. Many readers can live in one process.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { quiche } from '@matrixai/quic/native/index.js';
import type { Config, Connection, Host } from '@matrixai/quic/native/types.js';
import {
  CapsuleReader,
  CapsuleType,
  decodeCloseSessionValue,
  decodeFieldSection,
  encodeFieldSection,
  encodeFrame,
  encodeSettingsFrame,
  FrameReader,
  FrameType,
  readVarint,
  SettingId,
  StreamType,
  varintLengthFromFirstByte,
} from '../src/protocols/http3/index.js';
import { PacketSlab } from '../src/protocols/webtransport/connection.js';

export type WtReaderState = 'connecting' | 'open' | 'closed' | 'failed';

export interface WtReaderTarget {
  host: string;
  port: number;
  /** Request path, e.g. `/live/bench/wt/fmp4`. */
  path: string;
  /** Hex SHA-256 of the server certificate (`/certificate.sha256`): the session fails if the leaf differs. */
  certificateSha256?: string;
}

export interface WtReaderEvents {
  open?(reader: WtReader): void;
  end?(reader: WtReader): void;
  /** A JSON control message (`hello`, `init`, `offline`, `stats`, `pong`). */
  control?(reader: WtReader, message: { type?: unknown; [key: string]: unknown }): void;
  /** A video media segment; `first` is the first one of its group, i.e. the keyframe. */
  video?(reader: WtReader, first: boolean): void;
}

/** Bytes kept from the start of each media segment: enough to reach tfhd's track_ID. */
const SEGMENT_HEAD = 48;
/**
 * tfhd's track_ID in our segments: moof header (8), mfhd (16), traf header
 * (8), then tfhd's size, type and version/flags (12). Polycast writes one
 * track per segment (src/mux/fmp4), video as track 1.
 */
const TRACK_ID_AT = 44;
const VIDEO_TRACK_ID = 1;
/** wt-fmp4 framing (docs/protocols/wt-fmp4.md). */
const KIND_CONTROL = 0x01;
const KIND_GROUP = 0x02;
const RECORD_JSON = 0x01;
const RECORD_INIT = 0x02;
const RECORD_SEGMENT = 0x03;
/** A control record larger than this is not a JSON control message. */
const MAX_JSON_RECORD = 64 * 1024;
const UDP_PAYLOAD = 1350;
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;
const CONNECT_STREAM = 0;
const CONTROL_STREAM = 2;

const SHARED_READ = Buffer.allocUnsafe(64 * 1024);
/** Sends are asynchronous, so outgoing packets get their own regions of a slab, never reused while in flight. */
const SHARED_PACKETS = new PacketSlab(UDP_PAYLOAD);
let sharedConfig: Config | undefined;

function clientConfig(): Config {
  if (sharedConfig !== undefined) return sharedConfig;
  // Verification is by certificate hash after the handshake, as a browser's serverCertificateHashes does.
  const c = quiche.Config.withBoringSslCtx(false, false, null, null, null, null);
  c.setApplicationProtos(['h3']);
  c.setMaxIdleTimeout(30_000);
  c.setMaxRecvUdpPayloadSize(quiche.MAX_UDP_PACKET_SIZE);
  c.setMaxSendUdpPayloadSize(UDP_PAYLOAD);
  c.setInitialMaxData(16 * 1024 * 1024);
  c.setInitialMaxStreamDataUni(2 * 1024 * 1024);
  c.setInitialMaxStreamDataBidiLocal(256 * 1024);
  c.setInitialMaxStreamDataBidiRemote(256 * 1024);
  c.setInitialMaxStreamsUni(100);
  c.setInitialMaxStreamsBidi(10);
  c.setDisableActiveMigration(true);
  // We announce H3_DATAGRAM in SETTINGS, which needs the transport parameter too (RFC 9297 §2.1.1).
  c.enableDgram(true, 64, 64);
  sharedConfig = c;
  return c;
}

type Phase = 'type' | 'session' | 'kind' | 'group-head' | 'record-head' | 'record-body' | 'drain';

/** Parse state of one server-initiated unidirectional stream, advanced byte range by byte range. */
class UniStream {
  phase: Phase = 'type';
  readonly small = new Uint8Array(9);
  have = 0;
  need = 1;
  kind = 0;
  recordType = 0;
  remaining = 0;
  json: Uint8Array | undefined;
  jsonAt = 0;
  readonly segment = new Uint8Array(SEGMENT_HEAD);
  segmentAt = 0;
  segmentsInGroup = 0;
}

export class WtReader {
  state: WtReaderState = 'connecting';
  error: string | undefined;
  /** Close code and reason from the server's CLOSE_WEBTRANSPORT_SESSION, if it sent one. */
  closeInfo: { code: number; reason: string } | undefined;
  videoFrames = 0;
  audioFrames = 0;
  groups = 0;
  /** Group streams the server reset before their end (a GOP given up for this viewer). */
  groupsReset = 0;
  inits = 0;
  controlMessages = 0;
  private readonly socket: Socket;
  private conn: Connection | undefined;
  private local: Host = { host: '127.0.0.1', port: 0 };
  private readonly remote: Host;
  private readonly streams = new Map<number, UniStream>();
  private readonly connectFrames = new FrameReader({ wanted: new Set([FrameType.HEADERS, FrameType.DATA]) });
  private readonly capsules = new CapsuleReader(new Set([CapsuleType.CLOSE_WEBTRANSPORT_SESSION]));
  private gotResponse = false;
  private established = false;
  private timer: NodeJS.Timeout | undefined;
  private timerDeadline = Infinity;
  private readonly connectTimer: NodeJS.Timeout;

  constructor(
    private readonly target: WtReaderTarget,
    private readonly events: WtReaderEvents = {},
    connectTimeoutMs = 10_000,
  ) {
    this.remote = { host: target.host, port: target.port };
    // Media arrives in bursts of hundreds of packets; the default ~200 KiB buffer overflows while the event loop is busy
    // elsewhere, and every overflow is a loss QUIC's congestion control answers by slowing down (capped by net.core.rmem_max).
    this.socket = createSocket({ type: 'udp4', recvBufferSize: RECV_BUFFER_BYTES });
    this.socket.on('error', (err) => this.finish('failed', `udp socket: ${err.message}`));
    this.socket.on('message', (msg) => this.onPacket(msg));
    this.socket.bind(0, '127.0.0.1', () => this.start());
    this.connectTimer = setTimeout(() => this.finish('failed', `no session within ${connectTimeoutMs} ms`), connectTimeoutMs);
  }

  /** Ends the session from our side (not a failure). */
  close(): void {
    if (this.state === 'connecting' || this.state === 'open') this.state = 'closed';
    this.teardown();
  }

  private start(): void {
    if (this.state !== 'connecting') return;
    const a = this.socket.address();
    this.local = { host: a.address, port: a.port };
    try {
      this.conn = quiche.Connection.connect(null, randomBytes(quiche.MAX_CONN_ID_LEN), this.local, this.remote, clientConfig());
    } catch (e) {
      this.finish('failed', `quiche connect: ${(e as Error).message}`);
      return;
    }
    this.flush();
  }

  private onPacket(msg: Buffer): void {
    const conn = this.conn;
    if (conn === undefined || this.state === 'closed' || this.state === 'failed') return;
    try {
      conn.recv(msg, { from: this.remote, to: this.local });
    } catch {
      // An undecryptable or late packet; quiche's own state tells if the connection is done.
    }
    this.afterInput();
    this.flush();
  }

  private afterInput(): void {
    const conn = this.conn!;
    if (conn.isClosed()) return;
    if (!this.established && conn.isEstablished()) {
      this.established = true;
      const problem = this.checkCertificate(conn);
      if (problem !== undefined) {
        this.finish('failed', problem);
        return;
      }
      this.sendRequest(conn);
    }
    if (!this.established) return;
    for (const id of conn.readable()) {
      this.readStream(conn, id);
      if (this.state === 'closed' || this.state === 'failed') return;
    }
    // wt-fmp4 sends no datagrams; drain any so quiche's queue stays empty.
    while (conn.dgramRecv(SHARED_READ) !== null);
  }

  private checkCertificate(conn: Connection): string | undefined {
    const expected = this.target.certificateSha256;
    if (expected === undefined) return undefined;
    const leaf = conn.peerCertChain()?.[0];
    if (leaf === undefined) return 'the server sent no certificate';
    const got = createHash('sha256').update(leaf).digest('hex');
    return got === expected.trim().toLowerCase() ? undefined : `certificate hash ${got} is not the published ${expected.trim()}`;
  }

  private sendRequest(conn: Connection): void {
    const settings = encodeSettingsFrame([
      [SettingId.H3_DATAGRAM, 1],
      [SettingId.ENABLE_WEBTRANSPORT_DRAFT02, 1],
    ]);
    const control = new Uint8Array(1 + settings.length);
    control[0] = StreamType.CONTROL;
    control.set(settings, 1);
    conn.streamSend(CONTROL_STREAM, control, false);
    const authority = `${this.target.host}:${this.target.port}`;
    const head = encodeFieldSection([
      { name: ':method', value: 'CONNECT' },
      { name: ':protocol', value: 'webtransport' },
      { name: ':scheme', value: 'https' },
      { name: ':authority', value: authority },
      { name: ':path', value: this.target.path },
      { name: 'origin', value: `https://${authority}` },
      { name: 'sec-webtransport-http3-draft02', value: '1' },
    ]);
    conn.streamSend(CONNECT_STREAM, encodeFrame(FrameType.HEADERS, head), false);
  }

  private readStream(conn: Connection, id: number): void {
    for (;;) {
      let r: [number, boolean] | null;
      try {
        r = conn.streamRecv(id, SHARED_READ);
      } catch (e) {
        this.onReset(id, e);
        return;
      }
      if (r === null) return;
      const [n, fin] = r;
      if (id === CONNECT_STREAM) this.onConnectData(n, fin);
      else if (id % 4 === 3) this.onUniData(id, n, fin);
      // Anything else is a stream we never asked for: its bytes are simply consumed.
      if (fin || this.state === 'closed' || this.state === 'failed') return;
    }
  }

  private onReset(id: number, e: unknown): void {
    const s = this.streams.get(id);
    this.streams.delete(id);
    if (id === CONNECT_STREAM) {
      this.finish('closed', `session stream reset (${(e as Error).message})`);
      return;
    }
    if (s !== undefined && s.kind === KIND_GROUP) this.groupsReset++;
  }

  /** The CONNECT stream: the response, then capsules in DATA frames; its end ends the session. */
  private onConnectData(n: number, fin: boolean): void {
    // Frame and capsule readers keep views of what they are given: this stream is tiny, so a copy is cheap.
    if (n > 0) this.connectFrames.push(Uint8Array.prototype.slice.call(SHARED_READ, 0, n));
    try {
      for (let f = this.connectFrames.next(); f !== null; f = this.connectFrames.next()) {
        if (!this.gotResponse) {
          if (f.type !== FrameType.HEADERS) throw new Error('the response does not start with HEADERS');
          const status = decodeFieldSection(f.payload).find((h) => h.name === ':status')?.value;
          if (status !== '200') throw new Error(`CONNECT answered ${status ?? 'without a status'}`);
          this.gotResponse = true;
          clearTimeout(this.connectTimer);
          this.state = 'open';
          this.events.open?.(this);
          continue;
        }
        if (f.type !== FrameType.DATA) continue;
        this.capsules.push(f.payload);
        for (let c = this.capsules.next(); c !== null; c = this.capsules.next()) this.closeInfo = decodeCloseSessionValue(c.value);
      }
    } catch (e) {
      this.finish('failed', (e as Error).message);
      return;
    }
    if (fin) {
      const why = this.closeInfo ? `server closed the session (${this.closeInfo.code}${this.closeInfo.reason ? ` ${this.closeInfo.reason}` : ''})` : 'server ended the session';
      this.finish(this.gotResponse ? 'closed' : 'failed', why);
    }
  }

  private onUniData(id: number, n: number, fin: boolean): void {
    let s = this.streams.get(id);
    if (s === undefined) {
      s = new UniStream();
      this.streams.set(id, s);
    }
    let i = 0;
    while (i < n && this.state !== 'failed') {
      switch (s.phase) {
        case 'type':
        case 'session': {
          i = this.fillVarint(s, i, n);
          if (s.have < s.need) break;
          const value = readVarint(s.small, 0)!.value;
          s.have = 0;
          s.need = 1;
          if (s.phase === 'type') s.phase = value === StreamType.WEBTRANSPORT_UNI ? 'session' : 'drain';
          else s.phase = value === CONNECT_STREAM ? 'kind' : 'drain';
          break;
        }
        case 'kind':
          s.kind = SHARED_READ[i++]!;
          if (s.kind === KIND_GROUP) {
            s.phase = 'group-head';
            s.need = 8;
            this.groups++;
          } else if (s.kind === KIND_CONTROL) {
            s.phase = 'record-head';
            s.need = 5;
          } else this.finish('failed', `unknown wt-fmp4 stream kind 0x${s.kind.toString(16)}`);
          break;
        case 'group-head':
          i = this.fill(s, i, n);
          if (s.have < s.need) break;
          // generation and sequence are not needed to count frames.
          s.have = 0;
          s.need = 5;
          s.phase = 'record-head';
          break;
        case 'record-head':
          i = this.fill(s, i, n);
          if (s.have < s.need) break;
          s.have = 0;
          s.recordType = s.small[0]!;
          s.remaining = ((s.small[1]! << 24) | (s.small[2]! << 16) | (s.small[3]! << 8) | s.small[4]!) >>> 0;
          if (s.recordType === RECORD_JSON) {
            if (s.remaining > MAX_JSON_RECORD) {
              this.finish('failed', `control record of ${s.remaining} bytes`);
              break;
            }
            s.json = new Uint8Array(s.remaining);
            s.jsonAt = 0;
          }
          s.segmentAt = 0;
          s.phase = 'record-body';
          if (s.remaining === 0) this.endRecord(s);
          break;
        case 'record-body': {
          const take = Math.min(s.remaining, n - i);
          if (s.recordType === RECORD_JSON) {
            s.json!.set(SHARED_READ.subarray(i, i + take), s.jsonAt);
            s.jsonAt += take;
          } else if (s.recordType === RECORD_SEGMENT && s.segmentAt < SEGMENT_HEAD) {
            const keep = Math.min(take, SEGMENT_HEAD - s.segmentAt);
            s.segment.set(SHARED_READ.subarray(i, i + keep), s.segmentAt);
            s.segmentAt += keep;
          }
          i += take;
          s.remaining -= take;
          if (s.remaining === 0) this.endRecord(s);
          break;
        }
        case 'drain':
          i = n;
          break;
      }
    }
    if (fin) this.streams.delete(id);
  }

  private fill(s: UniStream, i: number, n: number): number {
    while (s.have < s.need && i < n) s.small[s.have++] = SHARED_READ[i++]!;
    return i;
  }

  private fillVarint(s: UniStream, i: number, n: number): number {
    if (s.have === 0 && i < n) s.need = varintLengthFromFirstByte(SHARED_READ[i]!);
    return this.fill(s, i, n);
  }

  private endRecord(s: UniStream): void {
    s.phase = 'record-head';
    s.need = 5;
    if (s.recordType === RECORD_SEGMENT) {
      const g = s.segment;
      const track = s.segmentAt >= TRACK_ID_AT + 4 ? ((g[TRACK_ID_AT]! << 24) | (g[TRACK_ID_AT + 1]! << 16) | (g[TRACK_ID_AT + 2]! << 8) | g[TRACK_ID_AT + 3]!) >>> 0 : 0;
      if (track === VIDEO_TRACK_ID) {
        this.videoFrames++;
        this.events.video?.(this, s.segmentsInGroup === 0);
        s.segmentsInGroup++;
      } else this.audioFrames++;
    } else if (s.recordType === RECORD_INIT) {
      this.inits++;
    } else if (s.recordType === RECORD_JSON) {
      const bytes = s.json!;
      s.json = undefined;
      this.controlMessages++;
      let message: { type?: unknown; [key: string]: unknown };
      try {
        message = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')) as typeof message;
      } catch {
        this.finish('failed', 'a control record is not JSON');
        return;
      }
      this.events.control?.(this, message);
    }
  }

  /** Sends every packet quiche has ready, then rearms the timer; notices the connection's end. */
  private flush(): void {
    const conn = this.conn;
    if (conn === undefined) return;
    for (;;) {
      const buf = SHARED_PACKETS.next();
      let r;
      try {
        r = conn.send(buf);
      } catch {
        break;
      }
      if (r === null) break;
      this.socket.send(buf, 0, r[0], this.remote.port, this.remote.host);
      SHARED_PACKETS.commit(r[0]);
    }
    if (conn.isClosed()) {
      const peer = conn.peerError();
      const local = conn.localError();
      const why = conn.isTimedOut()
        ? 'QUIC idle timeout'
        : peer
          ? `connection closed by the server (code ${peer.errorCode}${peer.reason.length ? ` ${Buffer.from(peer.reason).toString('utf8')}` : ''})`
          : local
            ? `connection closed locally (code ${local.errorCode})`
            : 'connection closed';
      this.finish(this.state === 'open' ? 'closed' : 'failed', why);
      return;
    }
    this.armTimer(conn);
  }

  private armTimer(conn: Connection): void {
    const ms = conn.timeout();
    if (ms === null) return;
    const deadline = Date.now() + ms;
    // An earlier pending timer is fine: quiche ignores a timeout that is not due yet, and we rearm then.
    if (this.timer !== undefined && this.timerDeadline <= deadline + 1) return;
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timerDeadline = deadline;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.timerDeadline = Infinity;
      if (this.state === 'closed' || this.state === 'failed') return;
      try {
        conn.onTimeout();
      } catch {
        // quiche records its own failure; flush below notices a closed connection.
      }
      this.afterInput();
      this.flush();
    }, ms + 1);
  }

  private finish(state: 'closed' | 'failed', reason: string): void {
    if (this.state === 'closed' || this.state === 'failed') return;
    this.state = state;
    this.error = reason;
    this.teardown();
    this.events.end?.(this);
  }

  private teardown(): void {
    clearTimeout(this.connectTimer);
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
    const conn = this.conn;
    if (conn !== undefined && !conn.isClosed()) {
      try {
        // One CONNECTION_CLOSE, then the socket goes: no draining period to wait through.
        conn.close(true, 0, new Uint8Array(0));
        const buf = SHARED_PACKETS.next();
        const r = conn.send(buf);
        if (r !== null) {
          this.socket.send(buf, 0, r[0], this.remote.port, this.remote.host, () => this.socket.close());
          SHARED_PACKETS.commit(r[0]);
          this.streams.clear();
          return;
        }
      } catch {
        // Closing anyway.
      }
    }
    this.streams.clear();
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }
}
