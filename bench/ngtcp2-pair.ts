/**
 * A server and a client connection of native/quic-ngtcp2 in this process,
 * joined by handing packets across in memory (no sockets): what the ngtcp2
 * floor times, and what the addon's own tests drive.
 */
import { randomBytes } from 'node:crypto';
import { generateSelfSignedCertificate } from '../src/protocols/webtransport/cert.js';
import { callsOf, ESTABLISHED, nativeQuic, TIMEOUT_MS, VIEW_SLOTS, type Ngtcp2Options } from '../src/protocols/webtransport/ngtcp2-connection.js';
import { nativeUdpBatch } from '../src/protocols/udp/native-udp-batch.js';

/** The server's packet size (WebTransportServer's default). */
export const PAYLOAD = 1350;
/** Packets per writePackets call: the server's batch (src/protocols/udp/batch-output.ts). */
export const BATCH = 64;
/** Slots of the state view the addon shares with JavaScript (ngtcp2-connection.ts). */
export const ESTABLISHED_SLOT = ESTABLISHED;
export const TIMEOUT_SLOT = TIMEOUT_MS;

type Binding = Extract<ReturnType<typeof nativeQuic>, { binding: unknown }>['binding'];
export type NativeConn = ReturnType<typeof callsOf>;

export interface InMemoryPair {
  readonly client: NativeConn;
  readonly server: NativeConn;
  readonly clientView: Float64Array;
  readonly serverView: Float64Array;
}

export const PAIR_SETTINGS: Ngtcp2Options = {
  maxUdpPayloadSize: PAYLOAD,
  idleTimeoutMs: 30_000,
  initialMaxData: 16 * 1024 * 1024,
  initialMaxStreamData: 2 * 1024 * 1024,
  initialMaxStreams: 100,
};

/** Connections on one certificate and one pair of contexts, with the batch buffers they share. */
export class InMemoryQuic {
  readonly binding: Binding;
  private readonly serverCtx;
  private readonly clientCtx;
  private readonly serverAddr: Buffer;
  private readonly address: (host: string, port: number) => Buffer;
  private readonly cbuf = Buffer.allocUnsafe(BATCH * PAYLOAD);
  private readonly clengths = new Uint32Array(BATCH);
  private readonly sbuf = Buffer.allocUnsafe(BATCH * PAYLOAD);
  private readonly slengths = new Uint32Array(BATCH);

  private constructor(binding: Binding, address: (host: string, port: number) => Buffer, settings: Ngtcp2Options) {
    this.binding = binding;
    this.address = address;
    const cert = generateSelfSignedCertificate();
    this.serverCtx = binding.createContext(cert.certPem, cert.keyPem, settings);
    this.clientCtx = binding.createContext(null, null, settings);
    this.serverAddr = address('127.0.0.1', 4433);
  }

  /** The addons, or why they are not there. */
  static open(settings: Ngtcp2Options = PAIR_SETTINGS): InMemoryQuic | { error: string } {
    const native = nativeQuic();
    const udp = nativeUdpBatch();
    if ('error' in native) return { error: native.error };
    if ('error' in udp) return { error: udp.error };
    return new InMemoryQuic(native.binding, (h, p) => udp.binding.address(h, p), settings);
  }

  /** A handshaken session; `port` tells the client's address apart from the other pairs'. */
  pair(port: number): InMemoryPair {
    const clientAddr = this.address('127.0.0.1', port);
    const clientView = new Float64Array(VIEW_SLOTS);
    const serverView = new Float64Array(VIEW_SLOTS);
    const client = callsOf(this.binding, clientView, new this.binding.Connection(this.clientCtx, null, randomBytes(16), randomBytes(16), clientAddr, this.serverAddr, clientView));
    let server: NativeConn | undefined;
    const fromClient = (): number => {
      let moved = 0;
      for (;;) {
        const n = client.writePackets(this.cbuf, 0, this.clengths, 0, BATCH);
        let off = 0;
        for (let i = 0; i < n; i++) {
          const packet = this.cbuf.subarray(off, off + this.clengths[i]!);
          off += this.clengths[i]!;
          server ??= callsOf(this.binding, serverView, new this.binding.Connection(this.serverCtx, packet, randomBytes(16), null, this.serverAddr, clientAddr, serverView));
          server.recv(packet);
        }
        moved += n;
        if (n < BATCH) return moved;
      }
    };
    // Handshake. The GnuTLS client's Finished leaves with its first probe, so time is let pass when nothing moves.
    for (let i = 0; i < 50 && !(server !== undefined && serverView[ESTABLISHED_SLOT] === 1); i++) {
      let moved = fromClient();
      if (server !== undefined) moved += this.deliver(server, client);
      if (moved === 0) {
        const until = performance.now() + Math.min(200, Math.max(1, clientView[TIMEOUT_SLOT]!));
        while (performance.now() < until);
        client.onTimeout();
      }
    }
    fromClient();
    if (server === undefined || serverView[ESTABLISHED_SLOT] !== 1) throw new Error('in-memory QUIC handshake did not complete');
    return { client, server, clientView, serverView };
  }

  /** Moves one batch of what `from` has ready into `to`; returns the packets moved. */
  deliver(from: NativeConn, to: NativeConn): number {
    const n = from.writePackets(this.sbuf, 0, this.slengths, 0, BATCH);
    let off = 0;
    for (let i = 0; i < n; i++) {
      to.recv(this.sbuf.subarray(off, off + this.slengths[i]!));
      off += this.slengths[i]!;
    }
    return n;
  }

  /** Passes packets both ways until neither side has anything to send. */
  settle(p: InMemoryPair, rounds = 1000): void {
    for (let i = 0; i < rounds; i++) if (this.deliver(p.server, p.client) + this.deliver(p.client, p.server) === 0) return;
  }
}
