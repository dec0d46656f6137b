import dgram from 'node:dgram';
import net from 'node:net';

/**
 * Ports this process was already given: the kernel may hand a just-closed
 * ephemeral port out again at once, and two picks for one server's
 * addresses (web and API, say) must not collide before either listens.
 */
const given = new Set<number>();

async function unseen(pick: () => Promise<number>): Promise<number> {
  for (;;) {
    const port = await pick();
    if (given.has(port)) continue;
    given.add(port);
    return port;
  }
}

/** A TCP port that was free a moment ago on 127.0.0.1, and not given out before in this process. */
export async function freePort(): Promise<number> {
  return unseen(pickTcp);
}

function pickTcp(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * A UDP port that was free a moment ago on 127.0.0.1: a free TCP port says
 * nothing of the UDP port of the same number, which another socket may hold.
 */
export async function freeUdpPort(): Promise<number> {
  return unseen(pickUdp);
}

function pickUdp(): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}
