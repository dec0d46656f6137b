/**
 * A round trip for loopback. This machine's kernel has no netem, so a
 * browser and a server on loopback see a round trip of microseconds, and
 * whatever costs round trips (a handshake, a request before the media)
 * costs nothing there. This proxy listens on another loopback address at
 * the server's port, TCP and UDP alike, and forwards each way after
 * `oneWayMs`: a page loaded from it reaches the server's HTTP, WebSocket
 * and WebTransport (UDP, same port) across that round trip. Bytes keep
 * their order; nothing is dropped, reordered or rate-limited, so it models
 * distance, not a bad network.
 */
import { createSocket, type RemoteInfo, type Socket as UdpSocket } from 'node:dgram';
import { createServer, connect, type Socket } from 'node:net';

export interface RoundTripProxy {
  /** Where to point the client: `http://${host}:${port}`. */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

export interface RoundTripProxyOptions {
  /** A loopback address other than the server's, e.g. 127.0.0.2. */
  readonly host: string;
  /** The server's port, TCP and UDP; the proxy listens on the same one. */
  readonly port: number;
  readonly target: string;
  readonly oneWayMs: number;
}

export async function startRoundTripProxy(o: RoundTripProxyOptions): Promise<RoundTripProxy> {
  let closed = false;
  /** Node's timers keep the order of equal delays, so delayed writes stay in order; none runs once the proxy closed. */
  const later = (ms: number, run: () => void): void => {
    setTimeout(() => {
      if (!closed) run();
    }, ms);
  };
  const sockets = new Set<Socket>();
  const tcp = createServer((client) => {
    const upstream = connect(o.port, o.target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.setNoDelay(true);
      s.on('error', () => {
        client.destroy();
        upstream.destroy();
      });
      s.on('close', () => sockets.delete(s));
    }
    client.on('data', (d) => later(o.oneWayMs, () => upstream.write(d)));
    upstream.on('data', (d) => later(o.oneWayMs, () => client.write(d)));
    client.on('end', () => later(o.oneWayMs, () => upstream.end()));
    upstream.on('end', () => later(o.oneWayMs, () => client.end()));
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(o.port, o.host, () => resolve());
  });

  // UDP: one upstream socket per client address, so the server sees one peer per client as it would.
  const udp = createSocket('udp4');
  const upstreams = new Map<string, UdpSocket>();
  udp.on('message', (msg: Buffer, from: RemoteInfo) => {
    const key = `${from.address}:${from.port}`;
    let up = upstreams.get(key);
    if (up === undefined) {
      const socket = createSocket('udp4');
      socket.on('message', (reply: Buffer) => later(o.oneWayMs, () => udp.send(reply, from.port, from.address)));
      socket.on('error', () => {});
      // A keyframe leaves the server as one burst of packets: the default receive buffer would drop some.
      socket.bind(0, o.target, () => socket.setRecvBufferSize(4 * 1024 * 1024));
      upstreams.set(key, socket);
      up = socket;
    }
    const out = up;
    later(o.oneWayMs, () => out.send(msg, o.port, o.target));
  });
  udp.on('error', () => {});
  await new Promise<void>((resolve, reject) => {
    udp.once('error', reject);
    udp.bind(o.port, o.host, () => {
      udp.setRecvBufferSize(4 * 1024 * 1024);
      resolve();
    });
  });

  return {
    host: o.host,
    port: o.port,
    async close() {
      closed = true;
      for (const s of sockets) s.destroy();
      for (const s of upstreams.values()) s.close();
      udp.close();
      await new Promise<void>((resolve) => tcp.close(() => resolve()));
    },
  };
}
