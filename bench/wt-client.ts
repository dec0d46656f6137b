/**
 * The shared half of the lean WebTransport readers (wt-reader.ts for
 * `wt-fmp4`, moq-reader.ts for moq-lite): one QUIC connection per session,
 * on ngtcp2 reading its own socket (native/quic-ngtcp2) or on quiche's native
 * binding with Node's dgram, never through a JS wrapper's web streams, with
 * HTTP/3 framing from src/protocols/http3. This class does the connection, the
 * certificate check, the extended CONNECT and its capsules, timers and
 * packet sending, and strips the WebTransport header of each server
 * unidirectional stream; a subclass parses what the streams carry.
 *
 * Stream bytes are read in place into one buffer shared by every reader of
 * the process (reads are synchronous): a subclass parses
 * `STREAM_READ[from..to)` during the call and keeps nothing of it.
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
  encodeBidiStreamHeader,
  FrameReader,
  FrameType,
  readVarint,
  StreamType,
  varintLengthFromFirstByte,
} from '../src/protocols/http3/index.js';
import { sendWebTransportConnect } from '../src/protocols/webtransport/client.js';
import { Ngtcp2ClientConnection, nativeQuic, type ClientInputHandler, type Ngtcp2Context } from '../src/protocols/webtransport/ngtcp2-connection.js';
import type { QuicConnection } from '../src/protocols/webtransport/quic-connection.js';
import { QuicTimer } from '../src/protocols/webtransport/quic-timer.js';
import { PacketSlab } from '../src/protocols/webtransport/connection.js';
import { wallClock } from './flv-sink.js';
import { ARRIVAL_STRIDE } from './lean-reader.js';

export type WtClientState = 'connecting' | 'open' | 'closed' | 'failed';

export interface WtClientTarget {
  host: string;
  port: number;
  /** Request path, e.g. `/live/bench/wt/fmp4` or `/moq`. */
  path: string;
  /** Hex SHA-256 of the server certificate (`/certificate.sha256`): the session fails if the leaf differs. */
  certificateSha256?: string;
  /** WebTransport subprotocols to offer (`wt-available-protocols`), most preferred first. */
  protocols?: readonly string[];
  /**
   * Packets received before an answer (ACK) is sent at once; fewer are
   * answered at the end of the event-loop turn that read them. quiche has no
   * delayed ACKs of its own: it acknowledges whatever came in at every
   * `send`, so sending after each packet ACKs each one and doubles the
   * packets the server must read. Browsers decimate (Chromium: every 2nd
   * packet at first, then about every 10th or after a quarter RTT); the
   * default 10 approximates that, 1 is one ACK per packet.
   */
  ackEvery?: number;
  /** The client's QUIC stack (default: ngtcp2 where it is built, see `clientStack`). */
  quic?: 'ngtcp2' | 'quiche';
}

const UDP_PAYLOAD = 1350;
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;
/** The CONNECT stream: its id is the session id. */
export const SESSION_ID = 0;
/** Keyframes kept per reader, as lean-reader.ts keeps them. */
const MAX_ARRIVALS = 900;

/** Stream reads land here; valid only during the subclass call that is given a range of it. */
export const STREAM_READ = Buffer.allocUnsafe(64 * 1024);
/** Sends are asynchronous, so outgoing packets get their own regions of a slab, never reused while in flight. */
const SHARED_PACKETS = new PacketSlab(UDP_PAYLOAD);
let sharedConfig: Config | undefined;

export function clientConfig(): Config {
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

/**
 * What a lean session drives: a QUIC client connection with its socket.
 * ngtcp2's (`Ngtcp2ClientConnection`) reads its socket natively; quiche's
 * goes through Node's dgram (`QuicheClient`). Both report received packets
 * to `onInput` in batches and send on `flush`.
 */
interface LeanQuic
  extends Pick<QuicConnection, 'timeout' | 'onTimeout' | 'isEstablished' | 'isClosed' | 'isReadable' | 'readable' | 'streamSend' | 'streamRecv' | 'close'> {
  flush(): void;
  dgramRecv(buf: Uint8Array): number | null;
  peerCertChain(): Uint8Array[] | null;
  peerError(): { errorCode: number; reason: Uint8Array } | null;
  /** Sends a last CONNECTION_CLOSE if it can, then closes the socket. */
  destroy(): void;
}

type InputHandler = ClientInputHandler;

/** quiche's client connection on a Node dgram socket: one `onInput` per datagram. */
class QuicheClient implements LeanQuic {
  private readonly conn: Connection;

  private constructor(
    private readonly socket: Socket,
    local: Host,
    private readonly remote: Host,
    onInput: InputHandler,
  ) {
    this.conn = quiche.Connection.connect(null, randomBytes(quiche.MAX_CONN_ID_LEN), local, remote, clientConfig());
    const info = { from: remote, to: local };
    socket.on('message', (msg) => {
      try {
        this.conn.recv(msg, info);
      } catch {
        // An undecryptable or late packet; quiche's own state tells if the connection is done.
      }
      onInput(1, msg.length, 1);
    });
  }

  static open(remote: Host, onInput: InputHandler, onError: (e: Error) => void): Promise<QuicheClient> {
    // Media arrives in bursts of hundreds of packets; the default ~200 KiB buffer overflows while the event loop is busy
    // elsewhere, and every overflow is a loss QUIC's congestion control answers by slowing down (capped by net.core.rmem_max).
    const socket = createSocket({ type: 'udp4', recvBufferSize: RECV_BUFFER_BYTES });
    socket.on('error', onError);
    return new Promise((resolve, reject) =>
      socket.bind(0, '127.0.0.1', () => {
        const a = socket.address();
        try {
          resolve(new QuicheClient(socket, { host: a.address, port: a.port }, remote, onInput));
        } catch (e) {
          socket.close();
          reject(e as Error);
        }
      }),
    );
  }

  flush(): void {
    for (;;) {
      const buf = SHARED_PACKETS.next();
      let r;
      try {
        r = this.conn.send(buf);
      } catch {
        return;
      }
      if (r === null) return;
      this.socket.send(buf, 0, r[0], this.remote.port, this.remote.host);
      SHARED_PACKETS.commit(r[0]);
    }
  }

  timeout(): number | null {
    return this.conn.timeout();
  }
  onTimeout(): void {
    this.conn.onTimeout();
  }
  isEstablished(): boolean {
    return this.conn.isEstablished();
  }
  isClosed(): boolean {
    return this.conn.isClosed();
  }
  isReadable(): boolean {
    return this.conn.isReadable();
  }
  readable(): Iterable<number> {
    return this.conn.readable();
  }
  streamSend(id: number, data: Uint8Array, fin: boolean): number | null {
    return this.conn.streamSend(id, data, fin);
  }
  streamRecv(id: number, buf: Uint8Array): [number, boolean] | null {
    return this.conn.streamRecv(id, buf);
  }
  dgramRecv(buf: Uint8Array): number | null {
    return this.conn.dgramRecv(buf);
  }
  peerCertChain(): Uint8Array[] | null {
    return this.conn.peerCertChain();
  }
  close(app: boolean, code: number, reason: Uint8Array): void {
    this.conn.close(app, code, reason);
  }
  peerError(): { errorCode: number; reason: Uint8Array } | null {
    return this.conn.peerError();
  }

  destroy(): void {
    // One CONNECTION_CLOSE, then the socket goes: no draining period to wait through.
    try {
      const buf = SHARED_PACKETS.next();
      const r = this.conn.isClosed() ? null : this.conn.send(buf);
      if (r !== null) {
        this.socket.send(buf, 0, r[0], this.remote.port, this.remote.host, () => this.socket.close());
        SHARED_PACKETS.commit(r[0]);
        return;
      }
    } catch {
      // Closing anyway.
    }
    try {
      this.socket.close();
    } catch {
      // Already closed.
    }
  }
}

let ngtcp2Client: { binding: Parameters<typeof Ngtcp2ClientConnection.context>[0]; ctx: Ngtcp2Context } | null | undefined;

/**
 * The load clients' QUIC stack unless a target names one: ngtcp2 where
 * `npm run build` built it (it reads its sockets natively, so a session costs
 * the load client a fraction of quiche's through Node's dgram), else quiche.
 */
export function clientStack(): 'ngtcp2' | 'quiche' {
  return ngtcp2ClientContext() === null ? 'quiche' : 'ngtcp2';
}

function ngtcp2ClientContext(): { binding: Parameters<typeof Ngtcp2ClientConnection.context>[0]; ctx: Ngtcp2Context } | null {
  if (ngtcp2Client === undefined) {
    const native = nativeQuic();
    ngtcp2Client =
      'error' in native
        ? null
        : {
            binding: native.binding,
            ctx: Ngtcp2ClientConnection.context(native.binding, {
              maxUdpPayloadSize: UDP_PAYLOAD,
              idleTimeoutMs: 30_000,
              initialMaxData: 16 * 1024 * 1024,
              initialMaxStreamData: 2 * 1024 * 1024,
              initialMaxStreams: 100,
              maxDatagramFrameSize: 64,
            }),
          };
  }
  return ngtcp2Client;
}

async function openLeanQuic(stack: 'ngtcp2' | 'quiche', remote: Host, batch: number, onInput: InputHandler, onError: (e: Error) => void): Promise<LeanQuic> {
  if (stack === 'quiche') return QuicheClient.open(remote, onInput, onError);
  const native = ngtcp2ClientContext();
  if (native === null) throw new Error('the ngtcp2 client is not built (npm run build)');
  const { binding, ctx } = native;
  // The native side reads the socket: the input handler runs from its poll callback, after every `batch` packets.
  return new Ngtcp2ClientConnection(binding, ctx, remote, batch, onInput);
}

/** Where a server unidirectional stream is: its WebTransport header (type 0x54, session id), then payload for the subclass. */
const enum UniPhase {
  Type,
  Session,
  Payload,
  Drain,
}

class UniHead<S> {
  phase = UniPhase.Type;
  readonly small = new Uint8Array(8);
  have = 0;
  need = 1;
  state: S | undefined;
}

export abstract class WtClientSession<S> {
  state: WtClientState = 'connecting';
  error: string | undefined;
  /** Close code and reason from the server's CLOSE_WEBTRANSPORT_SESSION, if it sent one. */
  closeInfo: { code: number; reason: string } | undefined;
  /** The subprotocol the server chose (`wt-protocol`), if any. */
  protocol: string | undefined;
  /** UDP payload bytes received: the server's egress to this session. */
  bytesIn = 0;
  /** QUIC packets received (the packets of a coalesced datagram counted one by one). */
  packetsIn = 0;
  /** UDP datagrams read: fewer than packets when the kernel coalesced the server's GSO sends (UDP_GRO, ngtcp2 client only). */
  datagramsIn = 0;
  /**
   * Flat triples per video keyframe, as lean-reader.ts keeps them: its
   * timestamp (ms, in whatever timeline the subclass reads), its arrival
   * here (wall clock ms), NaN (these protocols do not say when the server
   * received the frame).
   */
  readonly arrivals: number[] = [];
  private conn: LeanQuic | undefined;
  private readonly remote: Host;
  private readonly uni = new Map<number, UniHead<S>>();
  private readonly connectFrames = new FrameReader({ wanted: new Set([FrameType.HEADERS, FrameType.DATA]) });
  private readonly capsules = new CapsuleReader(new Set([CapsuleType.CLOSE_WEBTRANSPORT_SESSION]));
  private gotResponse = false;
  private established = false;
  private nextBidi = SESSION_ID + 4;
  private readonly timer = new QuicTimer(() => this.onTimer());
  private readonly connectTimer: NodeJS.Timeout;
  private readonly ackEvery: number;
  private unanswered = 0;
  private turnPending = false;

  protected constructor(
    protected readonly target: WtClientTarget,
    connectTimeoutMs: number,
  ) {
    this.remote = { host: target.host, port: target.port };
    this.ackEvery = Math.max(1, target.ackEvery ?? 10);
    openLeanQuic(target.quic ?? clientStack(), this.remote, this.ackEvery, this.onInput, (err) => this.finish('failed', `udp socket: ${err.message}`)).then(
      (conn) => {
        if (this.closedOrFailed) conn.destroy();
        else this.start(conn);
      },
      (e: Error) => this.finish('failed', `QUIC connect: ${e.message}`),
    );
    this.connectTimer = setTimeout(() => this.finish('failed', `no session within ${connectTimeoutMs} ms`), connectTimeoutMs);
  }

  /** The session is up (CONNECT answered 200): open streams from here. */
  protected abstract onOpen(): void;
  /** A new server unidirectional stream of this session: its parse state. */
  protected abstract newStream(id: number): S;
  /** Payload bytes `STREAM_READ[from..to)` of a unidirectional stream, after its WebTransport header. */
  protected abstract onStreamData(id: number, s: S, from: number, to: number, fin: boolean): void;
  /** The server reset a unidirectional stream before its end. */
  protected onStreamReset(_id: number, _s: S | undefined): void {}
  /** Bytes `STREAM_READ[0..n)` on a bidirectional stream we opened: consumed unless a subclass cares. */
  protected onBidiData(_id: number, _n: number, _fin: boolean): void {}
  /** The server reset a bidirectional stream we opened. */
  protected onBidiReset(_id: number, _e: Error): void {}

  /** Ends the session from our side (not a failure). */
  close(): void {
    if (this.state === 'connecting' || this.state === 'open') this.state = 'closed';
    this.teardown();
  }

  /** Gives up on this session, as a failure with `reason`. */
  abort(reason: string): void {
    this.finish('failed', reason);
  }

  protected get closedOrFailed(): boolean {
    return this.state === 'closed' || this.state === 'failed';
  }

  /** A video keyframe with timestamp `ms` has fully arrived now. */
  protected recordKeyframe(ms: number): void {
    if (this.arrivals.length >= MAX_ARRIVALS * ARRIVAL_STRIDE) this.arrivals.splice(0, (MAX_ARRIVALS / 2) * ARRIVAL_STRIDE);
    this.arrivals.push(ms, wallClock(), NaN);
  }

  /** Opens a WebTransport bidirectional stream carrying `bytes` (its header is added here); returns its id. */
  protected openBidi(bytes: Uint8Array, fin = false): number {
    const id = this.nextBidi;
    this.nextBidi += 4;
    const head = encodeBidiStreamHeader(SESSION_ID);
    const out = new Uint8Array(head.length + bytes.length);
    out.set(head);
    out.set(bytes, head.length);
    this.conn!.streamSend(id, out, fin);
    this.flush();
    return id;
  }

  protected finish(state: 'closed' | 'failed', reason: string): void {
    if (this.closedOrFailed) return;
    this.state = state;
    this.error = reason;
    this.teardown();
    this.onEnd();
  }

  /** After the session ended (closed or failed). */
  protected onEnd(): void {}

  private start(conn: LeanQuic): void {
    this.conn = conn;
    this.flush();
  }

  /** Packets were read into the connection: `packets` of them, at most `ackEvery` at a time. */
  private readonly onInput = (packets: number, bytes: number, datagrams: number): void => {
    const conn = this.conn;
    if (conn === undefined || this.closedOrFailed) return;
    this.bytesIn += bytes;
    this.packetsIn += packets;
    this.datagramsIn += datagrams;
    if (this.state !== 'open') {
      // Until the session is up every packet is read and answered at once: the handshake is a few round trips, not a stream.
      this.afterInput();
      this.flush();
      return;
    }
    this.unanswered += packets;
    if (this.unanswered >= this.ackEvery) this.flush();
    // Streams are read once per event-loop turn, after every packet that arrived in it: quiche's readable-stream
    // iterator costs about 11 µs through the binding, as much as decrypting the packet. A keyframe is stamped then.
    if (!this.turnPending) {
      this.turnPending = true;
      setImmediate(this.endOfTurn);
    }
  };

  private readonly endOfTurn = (): void => {
    this.turnPending = false;
    if (this.closedOrFailed) return;
    this.afterInput();
    if (!this.closedOrFailed) this.flush();
  };

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
    if (conn.isReadable()) {
      for (const id of conn.readable()) {
        this.readStream(conn, id);
        if (this.closedOrFailed) return;
      }
    }
    // Neither protocol sends datagrams here; drain any so quiche's queue stays empty.
    while (conn.dgramRecv(STREAM_READ) !== null);
  }

  private checkCertificate(conn: LeanQuic): string | undefined {
    const expected = this.target.certificateSha256;
    if (expected === undefined) return undefined;
    const leaf = conn.peerCertChain()?.[0];
    if (leaf === undefined) return 'the server sent no certificate';
    const got = createHash('sha256').update(leaf).digest('hex');
    return got === expected.trim().toLowerCase() ? undefined : `certificate hash ${got} is not the published ${expected.trim()}`;
  }

  private sendRequest(conn: LeanQuic): void {
    sendWebTransportConnect(conn, { authority: `${this.target.host}:${this.target.port}`, path: this.target.path, protocols: this.target.protocols });
  }

  private readStream(conn: LeanQuic, id: number): void {
    for (;;) {
      let r: [number, boolean] | null;
      try {
        r = conn.streamRecv(id, STREAM_READ);
      } catch (e) {
        this.onReset(id, e);
        return;
      }
      if (r === null) return;
      const [n, fin] = r;
      if (id === SESSION_ID) this.onConnectData(n, fin);
      else if (id % 4 === 3) this.onUniData(id, n, fin);
      else if (id % 4 === 0) this.onBidiData(id, n, fin);
      // Anything else is a stream we never asked for: its bytes are simply consumed.
      if (fin || this.closedOrFailed) return;
    }
  }

  private onReset(id: number, e: unknown): void {
    if (id === SESSION_ID) {
      this.finish('closed', `session stream reset (${(e as Error).message})`);
      return;
    }
    const head = this.uni.get(id);
    this.uni.delete(id);
    if (id % 4 === 3) this.onStreamReset(id, head?.state);
    else if (id % 4 === 0) this.onBidiReset(id, e as Error);
  }

  /** The CONNECT stream: the response, then capsules in DATA frames; its end ends the session. */
  private onConnectData(n: number, fin: boolean): void {
    // Frame and capsule readers keep views of what they are given: this stream is tiny, so a copy is cheap.
    if (n > 0) this.connectFrames.push(Uint8Array.prototype.slice.call(STREAM_READ, 0, n));
    try {
      for (let f = this.connectFrames.next(); f !== null; f = this.connectFrames.next()) {
        if (!this.gotResponse) {
          if (f.type !== FrameType.HEADERS) throw new Error('the response does not start with HEADERS');
          const headers = decodeFieldSection(f.payload);
          const status = headers.find((h) => h.name === ':status')?.value;
          if (status !== '200') throw new Error(`CONNECT answered ${status ?? 'without a status'}`);
          this.protocol = headers.find((h) => h.name === 'wt-protocol')?.value.replace(/^"|"$/g, '');
          this.gotResponse = true;
          clearTimeout(this.connectTimer);
          this.state = 'open';
          this.onOpen();
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
    let h = this.uni.get(id);
    if (h === undefined) {
      h = new UniHead<S>();
      this.uni.set(id, h);
    }
    let i = 0;
    while (i < n && (h.phase === UniPhase.Type || h.phase === UniPhase.Session)) {
      if (h.have === 0) h.need = varintLengthFromFirstByte(STREAM_READ[i]!);
      while (h.have < h.need && i < n) h.small[h.have++] = STREAM_READ[i++]!;
      if (h.have < h.need) break;
      const value = readVarint(h.small, 0)!.value;
      h.have = 0;
      if (h.phase === UniPhase.Type) h.phase = value === StreamType.WEBTRANSPORT_UNI ? UniPhase.Session : UniPhase.Drain;
      else if (value === SESSION_ID) {
        h.phase = UniPhase.Payload;
        h.state = this.newStream(id);
      } else h.phase = UniPhase.Drain;
    }
    if (h.phase === UniPhase.Payload && (i < n || fin)) this.onStreamData(id, h.state!, i, n, fin);
    if (fin) this.uni.delete(id);
  }

  /** Sends every packet that is ready, then rearms the timer; notices the connection's end. */
  private flush(): void {
    const conn = this.conn;
    if (conn === undefined) return;
    this.unanswered = 0;
    conn.flush();
    if (conn.isClosed()) {
      const peer = conn.peerError();
      const why = peer
        ? `connection closed by the server (code ${peer.errorCode}${peer.reason.length ? ` ${Buffer.from(peer.reason).toString('utf8')}` : ''})`
        : 'connection closed (idle timeout or a local error)';
      this.finish(this.state === 'open' ? 'closed' : 'failed', why);
      return;
    }
    this.timer.arm(conn);
  }

  private onTimer(): void {
    const conn = this.conn;
    if (conn === undefined || this.closedOrFailed) return;
    try {
      conn.onTimeout();
    } catch {
      // quiche records its own failure; flush below notices a closed connection.
    }
    this.afterInput();
    this.flush();
  }

  private teardown(): void {
    clearTimeout(this.connectTimer);
    this.timer.cancel();
    const conn = this.conn;
    this.conn = undefined;
    this.uni.clear();
    if (conn === undefined) return;
    try {
      if (!conn.isClosed()) conn.close(true, 0, new Uint8Array(0));
    } catch {
      // Closing anyway.
    }
    conn.destroy();
  }
}
