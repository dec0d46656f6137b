/**
 * A UDP relay between one SRT caller and the server that loses and reorders
 * datagrams, seeded so a run can be repeated. Handshakes pass untouched: the
 * point is what loss does to media, not how long a connection takes to set up.
 */
import { createSocket, type RemoteInfo } from 'node:dgram';
import { seededRandom } from './seeded.js';

export interface LossyRelay {
  readonly port: number;
  readonly stats: { forwarded: number; dropped: number; delayed: number };
  close(): Promise<void>;
}

export interface LossOptions {
  /** Probability a caller→server datagram is lost. */
  loss: number;
  /** Probability a caller→server datagram is held back 5–30 ms (arrives after later ones). */
  reorder: number;
  /** Probability a server→caller datagram (ACK, NAK) is lost. */
  backLoss: number;
  seed?: number;
}

const isHandshake = (d: Buffer) => d.length >= 4 && d.readUInt16BE(0) === 0x8000;

export async function startLossyRelay(serverPort: number, o: LossOptions): Promise<LossyRelay> {
  const rand = seededRandom(o.seed ?? 13);
  const stats = { forwarded: 0, dropped: 0, delayed: 0 };
  const front = createSocket('udp4');
  const back = createSocket('udp4');
  let caller: RemoteInfo | undefined;
  const timers = new Set<NodeJS.Timeout>();
  front.on('message', (d, rinfo) => {
    caller = rinfo;
    if (!isHandshake(d)) {
      if (rand() < o.loss) return void stats.dropped++;
      if (rand() < o.reorder) {
        stats.delayed++;
        const t = setTimeout(() => {
          timers.delete(t);
          back.send(d, serverPort, '127.0.0.1');
        }, 5 + rand() * 25);
        timers.add(t);
        return;
      }
    }
    stats.forwarded++;
    back.send(d, serverPort, '127.0.0.1');
  });
  back.on('message', (d) => {
    if (caller === undefined) return;
    if (!isHandshake(d) && rand() < o.backLoss) return void stats.dropped++;
    front.send(d, caller.port, caller.address);
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', resolve));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', resolve));
  return {
    port: front.address().port,
    stats,
    close: async () => {
      for (const t of timers) clearTimeout(t);
      await Promise.all([front, back].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
