/**
 * LL-HLS requests on the watched path: media playlists with delivery
 * directives (`_HLS_msn`, `_HLS_part`, `_HLS_skip`) around the live edge and
 * far from it, parts, segments and init segments by real and mutated names.
 * Blocking reloads are held by the server by design, so each case may wait:
 * a 5xx, or no answer at all within the server's hold limit plus a margin,
 * is a finding; 400 and 404 are the right answers to nonsense.
 */
import { concatBytes, utf8, type Rng } from '../harness.js';
import { WATCH_PATH } from '../server-process.js';
import { runCases, type CaseContext, type FuzzTarget } from '../target.js';
import { exchange } from './ws-frame.js';

/** Longer than any hold the server grants a blocking reload (a few target durations). */
const ANSWER_WITHIN_MS = 12_000;

interface Edge {
  mediaPlaylist: string;
  msn: number;
  part: number;
  names: string[];
}

function get(path: string, extra = ''): Uint8Array {
  return utf8(`GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n${extra}Connection: close\r\n\r\n`);
}

async function fetchText(port: number, path: string): Promise<string> {
  // Connection: close, so the whole answer is in once the server closes.
  const { data } = await exchange(port, [get(path)], 5000);
  return data.toString('latin1');
}

/** Where the live edge is now: the media playlist's name, its newest segment and part, and the objects it names. */
async function liveEdge(port: number): Promise<Edge | undefined> {
  const multivariant = await fetchText(port, `/${WATCH_PATH}/index.m3u8`);
  const media = /^([0-9a-f]{16}-stream\.m3u8)/m.exec(multivariant)?.[1];
  if (media === undefined) return undefined;
  const text = await fetchText(port, `/${WATCH_PATH}/${media}`);
  const msn = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? 0) + (text.match(/#EXTINF/g)?.length ?? 0);
  const parts = text.match(/#EXT-X-PART:/g)?.length ?? 0;
  const names = [...text.matchAll(/([0-9a-f]{16}-[a-z0-9]+\.(?:m4s|mp4))/g)].map((m) => m[1]!);
  return { mediaPlaylist: media, msn, part: parts, names };
}

function number(rng: Rng, near: number): string {
  return rng.pick([
    String(near),
    String(near + 1),
    String(Math.max(0, near - 1)),
    String(near + 2 + rng.int(5)),
    String(near + 1000),
    '0',
    '999999999999999',
    '9999999999999999',
    '-1',
    '1e3',
    '0x10',
    ' 1',
    '',
    '01',
    `${near}%00`,
    'NaN',
  ]);
}

function directives(rng: Rng, edge: Edge): string {
  const q: string[] = [];
  if (rng.chance(0.85)) q.push(`_HLS_msn=${number(rng, edge.msn)}`);
  if (rng.chance(0.6)) q.push(`_HLS_part=${number(rng, rng.int(8))}`);
  if (rng.chance(0.3)) q.push(`_HLS_skip=${rng.pick(['YES', 'v2', 'NO', 'yes', ''])}`);
  if (rng.chance(0.1)) q.push(`_HLS_msn=${edge.msn}`);
  if (rng.chance(0.1)) q.push(`${rng.pick(['_HLS_msn', '_HLS_part', 'x'])}${rng.pick(['', '=', '=='])}`);
  if (rng.chance(0.05)) q.push(`pad=${'a'.repeat(rng.int(6000))}`);
  for (let i = q.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    [q[i], q[j]] = [q[j]!, q[i]!];
  }
  return q.length ? `?${q.join(rng.chance(0.95) ? '&' : ';')}` : '';
}

function objectName(rng: Rng, edge: Edge): string {
  const real = edge.names.length ? rng.pick(edge.names) : edge.mediaPlaylist;
  const id = edge.mediaPlaylist.slice(0, 16);
  return rng.pick([
    real,
    `${id}-p${edge.part + edge.msn * 4 + 1 + rng.int(3)}.m4s`,
    `${id}-s${edge.msn + rng.int(3)}.m4s`,
    `${id}-init${rng.int(3)}.mp4`,
    `${id}-p${'9'.repeat(1 + rng.int(16))}.m4s`,
    `${id}-s00${rng.int(9)}.m4s`,
    `${'0'.repeat(16)}-p1.m4s`,
    `${id}-x1.m4s`,
    `${id.toUpperCase()}-p1.m4s`,
    real.replace(/\d+/, (d) => String(Number(d) + 1)),
  ]);
}

export const hls: FuzzTarget = {
  name: 'hls',
  summary: 'LL-HLS requests on the watched path: delivery directives (`_HLS_msn`, `_HLS_part`, `_HLS_skip`) near and far from the live edge, real and mutated part, segment and init names',
  async wire(ctx: CaseContext) {
    let edge: Edge | undefined;
    for (let attempt = 0; edge === undefined && attempt < 20 && ctx.alive(); attempt++) {
      edge = await liveEdge(ctx.ports.web).catch(() => undefined);
      if (edge === undefined) await new Promise((r) => setTimeout(r, 500));
    }
    if (edge === undefined) {
      ctx.finding({ kind: 'contract', detail: `no LL-HLS media playlist for ${WATCH_PATH} (is hls on in the fuzz config?)` });
      return;
    }
    let refreshing: Promise<void> | undefined;
    const statuses = new Map<string, number>();
    await runCases(ctx, this.name, async (index, rng) => {
      const e = edge!;
      // Keep near the live edge as it moves: one refresh at a time, every few cases.
      if (index % 20 === 0 && refreshing === undefined) {
        refreshing = liveEdge(ctx.ports.web)
          .then((next) => void (next && (edge = next)))
          .catch(() => undefined)
          .finally(() => (refreshing = undefined));
      }
      const playlist = rng.chance(0.6);
      const path = `/${WATCH_PATH}/${playlist ? (rng.chance(0.9) ? e.mediaPlaylist : 'index.m3u8') : objectName(rng, e)}${playlist ? directives(rng, e) : rng.chance(0.2) ? directives(rng, e) : ''}`;
      const extra = rng.chance(0.2) ? rng.pick(['Range: bytes=0-10\r\n', 'Range: bytes=99999999-\r\n', 'If-None-Match: "x"\r\n', 'Accept-Encoding: gzip\r\n']) : '';
      const bytes = concatBytes([get(path, extra)]);
      ctx.sent();
      const started = Date.now();
      const { data } = await exchange(ctx.ports.web, [bytes], ANSWER_WITHIN_MS, rng, (d) => d.includes('\r\n\r\n'));
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(data.subarray(0, 32).toString('latin1'))?.[1];
      statuses.set(status ?? '-', (statuses.get(status ?? '-') ?? 0) + 1);
      if (status === undefined && ctx.alive()) {
        ctx.finding({ kind: 'hang', detail: `no answer within ${Date.now() - started} ms to GET ${path.slice(0, 200)}`, caseIndex: index, bytes });
      } else if (status !== undefined && Number(status) >= 500) {
        ctx.finding({ kind: '5xx', detail: `answered ${status} to GET ${path.slice(0, 200)}`, caseIndex: index, bytes });
      }
    });
    // Cases that never reached a real object would fuzz only the 404 path.
    if (ctx.onlyCase === undefined && ctx.alive() && !statuses.has('200')) {
      ctx.finding({ kind: 'contract', detail: `no request was answered 200 (statuses: ${JSON.stringify(Object.fromEntries(statuses))})` });
    }
  },
};
