/**
 * A second loopback address in front of a server on 127.0.0.1: TCP and UDP
 * on `127.0.0.2:<same port>` relayed to `127.0.0.1:<port>`, so a page loaded
 * from the relay reaches the server's WebTransport (UDP on the web port)
 * through it too. `blackhole` drops every UDP datagram on its way back to the
 * browser while the sessions stay open, which is what a WebTransport whose
 * flow-control window never refills looks like from the page: the session
 * lives, nothing arrives. TCP (the WebSocket transports) is left alone.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { connect, createServer, type Server, type Socket as TcpSocket } from 'node:net';

export const RELAY_HOST = '127.0.0.2';

export interface LoopbackRelay {
  readonly host: string;
  readonly port: number;
  /** While true, datagrams from the server to the browser are dropped. */
  blackhole: boolean;
  /** Datagrams dropped so far. */
  readonly dropped: number;
  url(path: string): string;
  close(): Promise<void>;
}

export async function startLoopbackRelay(port: number, target = '127.0.0.1'): Promise<LoopbackRelay> {
  const sockets = new Set<TcpSocket>();
  const tcp: Server = createServer((client) => {
    const upstream = connect(port, target);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => undefined);
    }
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((resolve, reject) => {
    tcp.once('error', reject);
    tcp.listen(port, RELAY_HOST, resolve);
  });

  const front: Socket = createSocket('udp4');
  /** One upstream socket per browser address, so the server sees each QUIC client apart. */
  const flows = new Map<string, Socket>();
  let dropped = 0;
  const relay: LoopbackRelay = {
    host: RELAY_HOST,
    port,
    blackhole: false,
    get dropped() {
      return dropped;
    },
    url: (path) => `http://${RELAY_HOST}:${port}${path}`,
    close: async () => {
      for (const s of sockets) s.destroy();
      for (const s of flows.values()) s.close();
      front.close();
      await new Promise((resolve) => tcp.close(resolve));
    },
  };
  const upstreamFor = (from: RemoteInfo): Socket => {
    const key = `${from.address}:${from.port}`;
    let upstream = flows.get(key);
    if (!upstream) {
      upstream = createSocket('udp4');
      upstream.on('message', (msg) => {
        if (relay.blackhole) dropped++;
        else front.send(msg, from.port, from.address);
      });
      upstream.on('error', () => undefined);
      upstream.connect(port, target);
      flows.set(key, upstream);
    }
    return upstream;
  };
  front.on('message', (msg, from) => {
    const upstream = upstreamFor(from);
    // Not connected yet: the first datagrams of a flow wait for the socket to be.
    const send = (): void => upstream.send(msg);
    try {
      send();
    } catch {
      upstream.once('connect', send);
    }
  });
  front.on('error', () => undefined);
  await new Promise<void>((resolve, reject) => {
    front.once('error', reject);
    front.bind(port, RELAY_HOST, resolve);
  });
  return relay;
}
