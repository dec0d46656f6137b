/**
 * A WebTransport client session (HTTP/3 extended CONNECT, draft-02 as
 * Chromium and Polycast's own server speak it) on quiche's native binding,
 * the binding the server side uses: one QUIC connection and one UDP socket
 * per session, for server-to-server pulls (`source: moqt://…`).
 *
 * What it does: the QUIC handshake with the peer's certificate checked
 * (against trusted CAs, or against a pinned SHA-256 of the leaf, as a
 * browser's `serverCertificateHashes`), HTTP/3 SETTINGS, the CONNECT
 * request with `wt-available-protocols`, the CLOSE_WEBTRANSPORT_SESSION
 * capsule, WebTransport stream headers, stream flow control both ways, and
 * QUIC timers. Every failure ends the session with a reason
 * (`WebTransportClientError`); nothing is thrown out of a socket callback.
 *
 * Memory: an incoming stream holds at most `maxStreamBuffer` bytes its
 * reader has not taken; past that the client stops reading it from quiche,
 * whose stream and connection windows then hold the peer back. Writes wait
 * in a per-stream queue bounded by `maxWriteBuffer`.
 */
import { createHash, randomBytes, X509Certificate } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { lookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { rootCertificates } from 'node:tls';
import { quiche, Shutdown } from '@matrixai/quic/native/index.js';
import type { Config, Connection, Host } from '@matrixai/quic/native/types.js';
import {
  CapsuleReader,
  CapsuleType,
  decodeCloseSessionValue,
  decodeFieldSection,
  encodeBidiStreamHeader,
  encodeCloseSessionCapsule,
  encodeFieldSection,
  encodeFrame,
  encodeSettingsFrame,
  encodeUniStreamHeader,
  FrameReader,
  FrameType,
  http3ToWebTransportCode,
  readVarint,
  SettingId,
  StreamType,
  varintLengthFromFirstByte,
  webTransportCodeToHttp3,
  type HeaderField,
} from '../http3/index.js';
import { QuicTimer } from './quic-timer.js';

/** How the server's certificate is checked. */
export type CertificateCheck =
  /** The chain must verify against these PEM roots (the system's: `systemCertificateAuthorities()`), for `serverName`. */
  | { readonly kind: 'ca'; readonly ca: Uint8Array }
  /** The leaf's SHA-256 (hex, `:` separators allowed) must be this: for self-signed certificates. */
  | { readonly kind: 'sha256'; readonly fingerprint: string };

export interface WebTransportClientOptions {
  /** Host name or IP address of the server. */
  readonly host: string;
  readonly port: number;
  /** Request path with its query, e.g. `/moqt`. */
  readonly path: string;
  readonly certificate: CertificateCheck;
  /** Subprotocols offered in `wt-available-protocols`, most preferred first. */
  readonly protocols?: readonly string[];
  /** More request header fields (e.g. `authorization`). */
  readonly headers?: readonly HeaderField[];
  /** No CONNECT answer by then fails the session (default 10 s). */
  readonly connectTimeoutMs?: number;
  /** QUIC idle timeout (default 30 s). */
  readonly idleTimeoutMs?: number;
  /** A PING this often keeps an idle but healthy connection from the idle timeout (default: a third of it). */
  readonly keepAliveMs?: number;
  /** Bytes an incoming stream may hold that its reader has not taken (default 1 MiB). */
  readonly maxStreamBuffer?: number;
  /** Bytes a stream we write may queue behind flow control (default 256 KiB). */
  readonly maxWriteBuffer?: number;
  /** A WebTransport unidirectional stream the server opened; must be installed here, since servers open them as soon as the session is up. */
  readonly onUniStream?: (stream: ClientReceiveStream) => void;
}

export interface SessionEnd {
  /** The WebTransport session error code (from CLOSE_WEBTRANSPORT_SESSION), 0 when none was given. */
  readonly code: number;
  readonly reason: string;
  /** True when this side closed it. */
  readonly local: boolean;
}

/** Why a session could not be set up or was lost. */
export class WebTransportClientError extends Error {
  override readonly name = 'WebTransportClientError';
}

/** A stream reset by the server, or stopped by it while we were writing. */
export class WebTransportClientStreamError extends Error {
  override readonly name = 'WebTransportClientStreamError';
  constructor(
    message: string,
    /** The WebTransport error code, when the reset carried one in the WebTransport range. */
    readonly code: number | null,
  ) {
    super(message);
  }
}

const UDP_PAYLOAD = 1350;
const SESSION_STREAM = 0;
const CONTROL_STREAM = 2;
const READ_CHUNK = 64 * 1024;
const RECV_BUFFER_BYTES = 4 * 1024 * 1024;
/** H3_NO_ERROR, for closing the connection. */
const H3_NO_ERROR = 0x100;
/** Largest frame on the CONNECT stream (the response, capsules). */
const MAX_CONNECT_BYTES = 64 * 1024;

/** The PEM roots Node trusts, plus `NODE_EXTRA_CA_CERTS` as Node adds it: what `wss://` sources trust. */
export function systemCertificateAuthorities(): Uint8Array {
  const pems = [...rootCertificates];
  const extra = process.env['NODE_EXTRA_CA_CERTS'];
  if (extra !== undefined && extra !== '') {
    try {
      pems.push(readFileSync(extra, 'utf8'));
    } catch {
      // Node itself only warns about an unreadable file; the roots still apply.
    }
  }
  return new TextEncoder().encode(pems.join('\n'));
}

/** `ab:CD:…` or `abcd…` as lower-case hex without separators, or undefined when it is not a SHA-256. */
export function normalizeFingerprint(text: string): string | undefined {
  const hex = text.trim().replace(/:/g, '').toLowerCase();
  return /^[0-9a-f]{64}$/.test(hex) ? hex : undefined;
}

function quicheConfig(o: WebTransportClientOptions): Config {
  const verifyPeer = o.certificate.kind === 'ca';
  const c = quiche.Config.withBoringSslCtx(verifyPeer, false, o.certificate.kind === 'ca' ? o.certificate.ca : null, null, null, null);
  c.setApplicationProtos(['h3']);
  c.setMaxIdleTimeout(o.idleTimeoutMs ?? 30_000);
  c.setMaxRecvUdpPayloadSize(quiche.MAX_UDP_PACKET_SIZE);
  c.setMaxSendUdpPayloadSize(UDP_PAYLOAD);
  const streamWindow = Math.max(64 * 1024, o.maxStreamBuffer ?? 1024 * 1024);
  c.setInitialMaxData(8 * streamWindow);
  c.setInitialMaxStreamDataUni(streamWindow);
  c.setInitialMaxStreamDataBidiLocal(streamWindow);
  c.setInitialMaxStreamDataBidiRemote(64 * 1024);
  c.setMaxStreamWindow(streamWindow);
  c.setMaxConnectionWindow(8 * streamWindow);
  c.setInitialMaxStreamsUni(128);
  c.setInitialMaxStreamsBidi(16);
  c.setDisableActiveMigration(true);
  // SETTINGS announces H3_DATAGRAM, which needs the transport parameter too (RFC 9297 §2.1.1); none are used.
  c.enableDgram(true, 16, 16);
  return c;
}

/** The receiving half of a stream. */
export class ClientReceiveStream {
  readonly readable: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  /** Bytes delivered and not yet taken by the reader. */
  private queued = 0;
  /** Set once the readable is closed or errored. */
  private done = false;

  constructor(
    protected readonly owner: WebTransportClient,
    readonly id: number,
    private readonly maxBuffer: number,
  ) {
    this.readable = new ReadableStream<Uint8Array>(
      {
        start: (c) => {
          this.controller = c;
        },
        pull: () => {
          // The reader took data: read more of this stream from quiche.
          this.queued = 0;
          owner.resume(this.id);
        },
        cancel: () => {
          this.done = true;
          owner.stopReading(this.id, 0);
        },
      },
      { highWaterMark: 0 },
    );
  }

  /** Asks the server to stop sending (STOP_SENDING with a WebTransport code). */
  stopSending(code = 0): void {
    this.closeReadable();
    this.owner.stopReading(this.id, code);
  }

  /** @internal */ get wantsData(): boolean {
    return !this.done && this.queued < this.maxBuffer;
  }

  /** @internal */ deliver(bytes: Uint8Array): void {
    if (this.done) return;
    this.queued += bytes.byteLength;
    this.controller.enqueue(bytes);
  }

  /** @internal */ finish(): void {
    this.closeReadable();
  }

  /** @internal */ fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.controller.error(err);
  }

  private closeReadable(): void {
    if (this.done) return;
    this.done = true;
    try {
      this.controller.close();
    } catch {
      // Already errored.
    }
  }
}

/** The sending half of a stream. */
export class ClientSendStream {
  private readonly pending: Uint8Array[] = [];
  private pendingBytes = 0;
  private finPending = false;
  /** @internal */ finished = false;

  constructor(
    protected readonly ownerOf: WebTransportClient,
    readonly sendId: number,
    private readonly maxBuffer: number,
    header: Uint8Array,
  ) {
    this.queue(header);
  }

  /** Queues bytes; throws `WebTransportClientStreamError` when the stream is over or more than the write limit would wait. */
  write(bytes: Uint8Array): void {
    if (this.finished || this.finPending) throw new WebTransportClientStreamError(`stream ${this.sendId}: write after its end`, null);
    if (this.pendingBytes + bytes.byteLength > this.maxBuffer) {
      throw new WebTransportClientStreamError(`stream ${this.sendId}: more than ${this.maxBuffer} bytes waiting for flow control`, null);
    }
    this.queue(bytes);
  }

  /** FIN after what was written. */
  end(): void {
    if (this.finished || this.finPending) return;
    this.finPending = true;
    this.ownerOf.drain(this);
  }

  /** Resets the stream (RESET_STREAM with a WebTransport code). */
  abort(code = 0): void {
    if (this.finished) return;
    this.finished = true;
    this.pending.length = 0;
    this.pendingBytes = 0;
    this.ownerOf.resetSending(this.sendId, code);
  }

  /** @internal Hands queued bytes to quiche as far as flow control allows; true when something is still waiting. */
  push(conn: Connection): boolean {
    while (this.pending.length > 0) {
      const head = this.pending[0]!;
      const last = this.pending.length === 1 && this.finPending;
      let n: number | null;
      try {
        n = conn.streamSend(this.sendId, head, last);
      } catch {
        // Stopped by the peer, or the connection is gone: nothing more will go.
        this.finished = true;
        this.pending.length = 0;
        this.pendingBytes = 0;
        return false;
      }
      const sent = n ?? 0;
      this.pendingBytes -= sent;
      if (sent < head.byteLength) {
        this.pending[0] = head.subarray(sent);
        return true;
      }
      this.pending.shift();
      if (last) this.finished = true;
    }
    if (this.finPending && !this.finished) {
      try {
        conn.streamSend(this.sendId, new Uint8Array(0), true);
        this.finished = true;
      } catch {
        this.finished = true;
      }
    }
    return false;
  }

  private queue(bytes: Uint8Array): void {
    if (bytes.byteLength === 0) return;
    this.pending.push(bytes);
    this.pendingBytes += bytes.byteLength;
    this.ownerOf.drain(this);
  }
}

/** A bidirectional stream we opened: both halves. */
export class ClientBidiStream extends ClientSendStream {
  readonly receive: ClientReceiveStream;

  constructor(owner: WebTransportClient, id: number, maxRead: number, maxWrite: number) {
    super(owner, id, maxWrite, encodeBidiStreamHeader(SESSION_STREAM));
    this.receive = new ClientReceiveStream(owner, id, maxRead);
  }

  get readable(): ReadableStream<Uint8Array> {
    return this.receive.readable;
  }

  stopSending(code = 0): void {
    this.receive.stopSending(code);
  }
}

/** Where an incoming unidirectional stream is: its type, the WebTransport session id, then payload. */
interface UniState {
  phase: 'type' | 'session' | 'payload' | 'drain';
  head: Uint8Array;
  have: number;
  stream: ClientReceiveStream | undefined;
}

/**
 * A client's opening moves: its HTTP/3 control stream (SETTINGS with
 * H3_DATAGRAM and draft-02 WebTransport, without which servers do not take
 * CONNECT) and the extended CONNECT on the first bidirectional stream,
 * offering `protocols` in `wt-available-protocols`. Shared with the bench's
 * load client.
 */
export function sendWebTransportConnect(
  conn: Pick<Connection, 'streamSend'> | { streamSend(id: number, data: Uint8Array, fin: boolean): unknown },
  o: { authority: string; path: string; protocols?: readonly string[]; headers?: readonly HeaderField[] },
): void {
  const settings = encodeSettingsFrame([
    [SettingId.H3_DATAGRAM, 1],
    [SettingId.ENABLE_WEBTRANSPORT_DRAFT02, 1],
  ]);
  const control = new Uint8Array(1 + settings.length);
  control[0] = StreamType.CONTROL;
  control.set(settings, 1);
  conn.streamSend(CONTROL_STREAM, control, false);
  const fields: HeaderField[] = [
    { name: ':method', value: 'CONNECT' },
    { name: ':protocol', value: 'webtransport' },
    { name: ':scheme', value: 'https' },
    { name: ':authority', value: o.authority },
    { name: ':path', value: o.path },
    { name: 'origin', value: `https://${o.authority}` },
    { name: 'sec-webtransport-http3-draft02', value: '1' },
    ...(o.headers ?? []),
  ];
  if (o.protocols !== undefined && o.protocols.length > 0) fields.push({ name: 'wt-available-protocols', value: o.protocols.map((p) => `"${p}"`).join(', ') });
  conn.streamSend(SESSION_STREAM, encodeFrame(FrameType.HEADERS, encodeFieldSection(fields)), false);
}

export class WebTransportClient {
  /** The subprotocol the server chose (`wt-protocol`), once open. */
  protocol: string | undefined;
  /** Settles once, when the session is over, however it ended. */
  readonly closed: Promise<SessionEnd>;
  private resolveClosed!: (end: SessionEnd) => void;
  private readonly socket: Socket;
  private conn: Connection | undefined;
  private local: Host = { host: '', port: 0 };
  private remote: Host = { host: '', port: 0 };
  private readonly read = Buffer.allocUnsafe(READ_CHUNK);
  private readonly uni = new Map<number, UniState>();
  private readonly bidi = new Map<number, ClientBidiStream>();
  private readonly blocked = new Set<ClientSendStream>();
  private readonly paused = new Set<number>();
  private readonly connectFrames = new FrameReader({ wanted: new Set([FrameType.HEADERS, FrameType.DATA]), maxPayload: MAX_CONNECT_BYTES });
  private readonly capsules = new CapsuleReader(new Set([CapsuleType.CLOSE_WEBTRANSPORT_SESSION]));
  private closeInfo: { code: number; reason: string } | undefined;
  private state: 'connecting' | 'open' | 'over' = 'connecting';
  private established = false;
  private nextBidi = SESSION_STREAM + 4;
  private nextUni = CONTROL_STREAM + 4;
  private readonly timer = new QuicTimer(() => this.onTimer());
  private readonly connectTimer: NodeJS.Timeout;
  private keepAlive: NodeJS.Timeout | undefined;
  private flushing = false;
  private openWaiter: { resolve: () => void; reject: (err: Error) => void } | undefined;
  private readonly maxRead: number;
  private readonly maxWrite: number;

  private constructor(private readonly o: WebTransportClientOptions) {
    this.maxRead = o.maxStreamBuffer ?? 1024 * 1024;
    this.maxWrite = o.maxWriteBuffer ?? 256 * 1024;
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    const family = isIP(o.host) === 6 ? 'udp6' : 'udp4';
    // Media comes in bursts; the kernel's default receive buffer (about 200 KiB) drops some while the event loop is busy elsewhere.
    this.socket = createSocket({ type: family, recvBufferSize: RECV_BUFFER_BYTES });
    this.socket.on('error', (err) => this.fail(`udp socket: ${err.message}`));
    this.socket.on('message', (msg, from) => {
      // Only the server's packets: the socket's port is no invitation to anyone else.
      if (from.port === this.remote.port && from.address === this.remote.host) this.onPacket(msg);
    });
    const timeoutMs = o.connectTimeoutMs ?? 10_000;
    this.connectTimer = setTimeout(() => this.fail(`no WebTransport session within ${timeoutMs} ms`), timeoutMs);
  }

  /** Opens a session; rejects with a `WebTransportClientError` saying why it could not. */
  static async connect(o: WebTransportClientOptions): Promise<WebTransportClient> {
    if (o.certificate.kind === 'sha256' && normalizeFingerprint(o.certificate.fingerprint) === undefined) {
      throw new WebTransportClientError(`'${o.certificate.fingerprint.slice(0, 80)}' is not a SHA-256 fingerprint (64 hex digits)`);
    }
    const client = new WebTransportClient(o);
    const opened = new Promise<void>((resolve, reject) => (client.openWaiter = { resolve, reject }));
    void client.start();
    await opened;
    return client;
  }

  private get over(): boolean {
    return this.state === 'over';
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Opens a bidirectional stream (its WebTransport header is sent first). */
  openBidi(): ClientBidiStream {
    this.mustBeOpen();
    const id = this.nextBidi;
    this.nextBidi += 4;
    const stream = new ClientBidiStream(this, id, this.maxRead, this.maxWrite);
    this.bidi.set(id, stream);
    return stream;
  }

  /** Opens a unidirectional stream. */
  openUni(): ClientSendStream {
    this.mustBeOpen();
    const id = this.nextUni;
    this.nextUni += 4;
    return new ClientSendStream(this, id, this.maxWrite, encodeUniStreamHeader(SESSION_STREAM));
  }

  /** Ends the session from this side: CLOSE_WEBTRANSPORT_SESSION with `code` and `reason`, then the connection. */
  close(code = 0, reason = ''): void {
    if (this.over) return;
    const conn = this.conn;
    if (conn !== undefined && this.state === 'open') {
      try {
        conn.streamSend(SESSION_STREAM, encodeFrame(FrameType.DATA, encodeCloseSessionCapsule(code, reason.slice(0, 200))), true);
        this.flush();
      } catch {
        // The stream is gone already; the connection close says enough.
      }
    }
    this.end({ code, reason, local: true });
  }

  // ---- for the streams ----

  /** @internal */ drain(stream: ClientSendStream): void {
    this.blocked.add(stream);
    this.flushSoon();
  }

  /** @internal */ resume(id: number): void {
    if (!this.paused.delete(id) || this.conn === undefined || this.over) return;
    this.readStream(this.conn, id);
    this.flushSoon();
  }

  /** @internal */ stopReading(id: number, code: number): void {
    this.paused.delete(id);
    const conn = this.conn;
    if (conn === undefined || this.over) return;
    try {
      conn.streamShutdown(id, Shutdown.Read, webTransportCodeToHttp3(code));
    } catch {
      // Already finished or reset.
    }
    this.flushSoon();
  }

  /** @internal */ resetSending(id: number, code: number): void {
    this.blocked.forEach((s) => s.sendId === id && this.blocked.delete(s));
    const conn = this.conn;
    if (conn === undefined || this.over) return;
    try {
      conn.streamShutdown(id, Shutdown.Write, webTransportCodeToHttp3(code));
    } catch {
      // Already finished or stopped.
    }
    this.flushSoon();
  }

  // ---- connection ----

  private async start(): Promise<void> {
    let address: string;
    try {
      address = isIP(this.o.host) !== 0 ? this.o.host : (await lookup(this.o.host, { family: 4 })).address;
    } catch (err) {
      this.fail(`cannot resolve ${this.o.host}: ${(err as Error).message}`);
      return;
    }
    if (this.over) return;
    this.remote = { host: address, port: this.o.port };
    this.socket.bind(0, () => {
      if (this.over) return;
      const a = this.socket.address();
      this.local = { host: a.address, port: a.port };
      // SNI and the name the chain is verified for; none for an IP literal (quiche would send it as SNI).
      const serverName = isIP(this.o.host) === 0 ? this.o.host : null;
      try {
        this.conn = quiche.Connection.connect(serverName, randomBytes(quiche.MAX_CONN_ID_LEN), this.local, this.remote, quicheConfig(this.o));
      } catch (err) {
        this.fail(`QUIC connect: ${(err as Error).message}`);
        return;
      }
      this.flush();
    });
  }

  private onPacket(msg: Buffer): void {
    const conn = this.conn;
    if (conn === undefined || this.over) return;
    try {
      conn.recv(msg, { from: this.remote, to: this.local });
    } catch {
      // An undecryptable or stray packet; quiche's state says whether the connection survives.
    }
    this.afterInput(conn);
    this.flush();
  }

  private afterInput(conn: Connection): void {
    if (this.over || conn.isClosed()) return;
    if (!this.established && conn.isEstablished()) {
      this.established = true;
      const problem = this.checkCertificate(conn);
      if (problem !== undefined) {
        this.fail(problem);
        return;
      }
      this.sendRequest(conn);
    }
    if (!this.established) return;
    // Most packets carry no stream data for us: asking is far cheaper than building quiche's stream iterator.
    if (conn.isReadable()) {
      for (const id of conn.readable()) {
        if (this.paused.has(id)) continue;
        this.readStream(conn, id);
        if (this.over) return;
      }
    }
    while (conn.dgramRecv(this.read) !== null);
  }

  private checkCertificate(conn: Connection): string | undefined {
    const check = this.o.certificate;
    const leaf = conn.peerCertChain()?.[0];
    if (leaf === undefined) return 'the server sent no certificate';
    if (check.kind === 'ca') {
      // BoringSSL verified the chain; the name is checked here, for host names and IP addresses alike.
      let cert: X509Certificate;
      try {
        cert = new X509Certificate(leaf);
      } catch (err) {
        return `the server's certificate cannot be read: ${(err as Error).message}`;
      }
      const host = this.o.host;
      const matches = isIP(host) !== 0 ? cert.checkIP(host) !== undefined : cert.checkHost(host) !== undefined;
      return matches ? undefined : `the server's certificate is not valid for ${host} (subject ${cert.subject.replace(/\n/g, ', ')}${cert.subjectAltName ? `; ${cert.subjectAltName}` : ''})`;
    }
    const got = createHash('sha256').update(leaf).digest('hex');
    const expected = normalizeFingerprint(check.fingerprint);
    return got === expected ? undefined : `the server's certificate has SHA-256 ${got}, not the pinned ${expected}`;
  }

  private sendRequest(conn: Connection): void {
    const authority = this.o.port === 443 ? this.o.host : `${isIP(this.o.host) === 6 ? `[${this.o.host}]` : this.o.host}:${this.o.port}`;
    sendWebTransportConnect(conn, { authority, path: this.o.path, protocols: this.o.protocols, headers: this.o.headers });
  }

  private readStream(conn: Connection, id: number): void {
    for (;;) {
      if (this.over) return;
      // A stream whose reader is full waits: quiche's windows hold the peer back meanwhile.
      const receiver = this.receiverOf(id);
      if (receiver !== undefined && !receiver.wantsData) {
        this.paused.add(id);
        return;
      }
      let r: [number, boolean] | null;
      try {
        r = conn.streamRecv(id, this.read);
      } catch (err) {
        this.onStreamReset(id, err);
        return;
      }
      if (r === null) return;
      const [n, fin] = r;
      if (id === SESSION_STREAM) this.onSessionData(n, fin);
      else if (id % 4 === 3) this.onUniData(id, n, fin);
      else if (id % 4 === 0) this.onBidiData(id, n, fin);
      else {
        // A bidirectional stream the server opened: nothing in this client takes one.
        this.refusePeerBidi(conn, id);
        return;
      }
      if (fin) return;
    }
  }

  private receiverOf(id: number): ClientReceiveStream | undefined {
    if (id % 4 === 0) return this.bidi.get(id)?.receive;
    if (id % 4 === 3) return this.uni.get(id)?.stream;
    return undefined;
  }

  private refusePeerBidi(conn: Connection, id: number): void {
    try {
      conn.streamShutdown(id, Shutdown.Read, webTransportCodeToHttp3(0));
      conn.streamShutdown(id, Shutdown.Write, webTransportCodeToHttp3(0));
    } catch {
      // Gone already.
    }
  }

  private onStreamReset(id: number, err: unknown): void {
    if (id === SESSION_STREAM) {
      this.fail(`the server reset the session stream (${(err as Error).message})`);
      return;
    }
    const code = resetCode(err);
    const e = new WebTransportClientStreamError(`stream ${id} reset by the server${code === null ? '' : ` (code ${code})`}`, code);
    if (id % 4 === 3) {
      const s = this.uni.get(id);
      this.uni.delete(id);
      s?.stream?.fail(e);
    } else if (id % 4 === 0) {
      const b = this.bidi.get(id);
      this.bidi.delete(id);
      b?.receive.fail(e);
    }
    this.paused.delete(id);
  }

  /** The CONNECT stream: the response, then capsules in DATA frames; its end ends the session. */
  private onSessionData(n: number, fin: boolean): void {
    if (n > 0) this.connectFrames.push(Uint8Array.prototype.slice.call(this.read, 0, n));
    try {
      for (let f = this.connectFrames.next(); f !== null; f = this.connectFrames.next()) {
        if (this.state === 'connecting') {
          if (f.type !== FrameType.HEADERS) throw new WebTransportClientError('the CONNECT response does not start with HEADERS');
          const headers = decodeFieldSection(f.payload);
          const status = headers.find((h) => h.name === ':status')?.value;
          if (status !== '200') throw new WebTransportClientError(`the server answered CONNECT ${this.o.path} with ${status ?? 'no status'}`);
          this.protocol = headers.find((h) => h.name === 'wt-protocol')?.value.replace(/^"|"$/g, '');
          this.state = 'open';
          clearTimeout(this.connectTimer);
          this.startKeepAlive();
          const waiter = this.openWaiter;
          this.openWaiter = undefined;
          waiter?.resolve();
          continue;
        }
        if (f.type !== FrameType.DATA) continue;
        this.capsules.push(f.payload);
        for (let c = this.capsules.next(); c !== null; c = this.capsules.next()) this.closeInfo = decodeCloseSessionValue(c.value);
      }
    } catch (err) {
      this.fail(err instanceof WebTransportClientError ? err.message : `malformed CONNECT stream: ${(err as Error).message}`);
      return;
    }
    if (fin) {
      if (this.state === 'connecting') this.fail('the server ended the CONNECT stream without an answer');
      else this.end({ code: this.closeInfo?.code ?? 0, reason: this.closeInfo?.reason ?? 'the server ended the session', local: false });
    }
  }

  private onUniData(id: number, n: number, fin: boolean): void {
    let s = this.uni.get(id);
    if (s === undefined) {
      s = { phase: 'type', head: new Uint8Array(8), have: 0, stream: undefined };
      this.uni.set(id, s);
    }
    let i = 0;
    while (i < n && (s.phase === 'type' || s.phase === 'session')) {
      const need = s.have === 0 ? varintLengthFromFirstByte(this.read[i]!) : varintLengthFromFirstByte(s.head[0]!);
      while (s.have < need && i < n) s.head[s.have++] = this.read[i++]!;
      if (s.have < need) break;
      const value = readVarint(s.head, 0)!.value;
      s.have = 0;
      if (s.phase === 'type') s.phase = value === StreamType.WEBTRANSPORT_UNI ? 'session' : 'drain';
      else if (value !== SESSION_STREAM) s.phase = 'drain';
      else {
        s.phase = 'payload';
        s.stream = new ClientReceiveStream(this, id, this.maxRead);
        const handler = this.o.onUniStream;
        if (handler === undefined) s.stream.stopSending(0);
        else handler(s.stream);
      }
    }
    // Control and QPACK streams (and unknown types) are read to their end and ignored: this client uses no dynamic table.
    if (s.phase === 'payload' && i < n) s.stream!.deliver(Uint8Array.prototype.slice.call(this.read, i, n));
    if (fin) {
      s.stream?.finish();
      this.uni.delete(id);
    }
  }

  private onBidiData(id: number, n: number, fin: boolean): void {
    const b = this.bidi.get(id);
    if (b === undefined) return;
    if (n > 0) b.receive.deliver(Uint8Array.prototype.slice.call(this.read, 0, n));
    if (fin) {
      b.receive.finish();
      if (b.finished) this.bidi.delete(id);
    }
  }

  private startKeepAlive(): void {
    const every = this.o.keepAliveMs ?? (this.o.idleTimeoutMs ?? 30_000) / 3;
    this.keepAlive = setInterval(() => {
      const conn = this.conn;
      if (conn === undefined || this.over) return;
      try {
        conn.sendAckEliciting();
      } catch {
        // Closed: flush notices.
      }
      this.flush();
    }, Math.max(250, every));
    this.keepAlive.unref();
  }

  private mustBeOpen(): void {
    if (this.state !== 'open') throw new WebTransportClientError('the session is not open');
  }

  private flushSoon(): void {
    if (this.flushing || this.over) return;
    this.flushing = true;
    queueMicrotask(() => {
      this.flushing = false;
      this.flush();
    });
  }

  /** Sends every packet quiche has ready, then rearms the timer; notices the connection's end. */
  private flush(): void {
    const conn = this.conn;
    if (conn === undefined || this.over) return;
    for (const s of this.blocked) if (!s.push(conn)) this.blocked.delete(s);
    for (;;) {
      const buf = Buffer.allocUnsafe(UDP_PAYLOAD);
      let r: [number, unknown] | null;
      try {
        r = conn.send(buf);
      } catch {
        break;
      }
      if (r === null) break;
      this.socket.send(buf, 0, r[0], this.remote.port, this.remote.host);
    }
    if (conn.isClosed()) {
      this.fail(connectionEnd(conn));
      return;
    }
    this.timer.arm(conn);
  }

  private onTimer(): void {
    const conn = this.conn;
    if (conn === undefined || this.over) return;
    try {
      conn.onTimeout();
    } catch {
      // quiche records its own failure; flush notices a closed connection.
    }
    this.afterInput(conn);
    this.flush();
  }

  private fail(reason: string): void {
    if (this.over) return;
    // After the session was open, the server's close capsule (if any) is the better reason.
    const info = this.closeInfo;
    this.end({ code: info?.code ?? 0, reason: info !== undefined ? info.reason || reason : reason, local: false }, reason);
  }

  private end(end: SessionEnd, failure?: string): void {
    if (this.over) return;
    const wasOpen = this.state === 'open';
    this.state = 'over';
    clearTimeout(this.connectTimer);
    clearInterval(this.keepAlive);
    this.timer.cancel();
    const err = new WebTransportClientError(failure ?? (end.reason || 'the session ended'));
    this.openWaiter?.reject(err);
    this.openWaiter = undefined;
    const streamErr = new WebTransportClientStreamError(`the session ended: ${end.reason || 'no reason given'}`, null);
    for (const s of this.uni.values()) s.stream?.fail(streamErr);
    for (const b of this.bidi.values()) b.receive.fail(streamErr);
    this.uni.clear();
    this.bidi.clear();
    this.blocked.clear();
    this.paused.clear();
    this.closeConnection(wasOpen && end.local ? end.code : 0, end.reason);
    this.resolveClosed(end);
  }

  private closeConnection(_code: number, reason: string): void {
    const conn = this.conn;
    if (conn !== undefined && !conn.isClosed()) {
      try {
        // The capsule (if any) and one CONNECTION_CLOSE, then the socket goes: no draining period to wait through.
        conn.close(true, H3_NO_ERROR, new TextEncoder().encode(reason.slice(0, 100)));
        for (let i = 0; i < 4; i++) {
          const buf = Buffer.allocUnsafe(UDP_PAYLOAD);
          const r = conn.send(buf);
          if (r === null) break;
          this.socket.send(buf, 0, r[0], this.remote.port, this.remote.host);
        }
      } catch {
        // Closing anyway.
      }
    }
    // Let queued sends go out before the socket closes.
    setImmediate(() => {
      try {
        this.socket.close();
      } catch {
        // Already closed.
      }
    });
  }
}

function connectionEnd(conn: Connection): string {
  if (conn.isTimedOut()) return 'QUIC idle timeout: the server stopped answering';
  const peer = conn.peerError();
  if (peer) return `the server closed the connection (code 0x${peer.errorCode.toString(16)}${peer.reason.length ? ` ${Buffer.from(peer.reason).toString('utf8')}` : ''})`;
  const local = conn.localError();
  if (local) {
    const reason = local.reason.length ? ` ${Buffer.from(local.reason).toString('utf8')}` : '';
    // TLS alerts arrive as CRYPTO_ERROR 0x100 + alert: 42-49 are certificate problems.
    const alert = local.isApp ? undefined : local.errorCode - 0x100;
    if (alert !== undefined && alert >= 42 && alert <= 49) return `TLS handshake failed: the server's certificate was not accepted (alert ${alert})${reason}`;
    return `connection closed locally (code 0x${local.errorCode.toString(16)}${reason})`;
  }
  return 'connection closed';
}

/** The WebTransport code of a quiche stream error (`StreamReset(code)` / `StreamStopped(code)`), when it has one. */
function resetCode(err: unknown): number | null {
  const m = err instanceof Error ? /Stream(?:Reset|Stopped)\((\d+)\)/.exec(err.message) : null;
  if (m === null) return null;
  return http3ToWebTransportCode(Number(m[1]));
}
