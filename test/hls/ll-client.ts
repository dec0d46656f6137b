/** A minimal LL-HLS client for the tests: parses playlists and follows blocking reload like hls.js does. */

export interface ParsedPart {
  readonly uri: string;
  readonly msn: number;
  readonly index: number;
  readonly independent: boolean;
  /** Program date of the part's first frame (its segment's `EXT-X-PROGRAM-DATE-TIME` plus the parts before it), ms. */
  readonly dateMs: number | undefined;
}

export interface ParsedPlaylist {
  readonly mediaSequence: number;
  readonly parts: ParsedPart[];
  readonly segments: Array<{ readonly msn: number; readonly uri: string }>;
  readonly maps: string[];
  readonly hint: string | undefined;
  readonly skipped: number;
  /** The request that asks for the part after the newest one (hls.js's choice). */
  readonly next: { msn: number; part: number };
  readonly text: string;
}

const attr = (line: string, name: string) => new RegExp(`${name}="([^"]*)"`).exec(line)?.[1];

export function parsePlaylist(text: string): ParsedPlaylist {
  const lines = text.split('\n');
  const mediaSequence = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1] ?? NaN);
  const skipped = Number(/#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)/.exec(text)?.[1] ?? 0);
  let msn = mediaSequence + skipped;
  let index = 0;
  const parts: ParsedPart[] = [];
  const segments: Array<{ msn: number; uri: string }> = [];
  const maps: string[] = [];
  let hint: string | undefined;
  let afterInf = false;
  let dateMs: number | undefined;
  for (const line of lines) {
    if (line.startsWith('#EXT-X-PROGRAM-DATE-TIME:')) dateMs = Date.parse(line.slice('#EXT-X-PROGRAM-DATE-TIME:'.length));
    else if (line.startsWith('#EXT-X-PART:')) {
      parts.push({ uri: attr(line, 'URI')!, msn, index: index++, independent: line.includes('INDEPENDENT=YES'), dateMs });
      if (dateMs !== undefined) dateMs += Number(/DURATION=([\d.]+)/.exec(line)?.[1] ?? NaN) * 1000;
    }
    else if (line.startsWith('#EXT-X-MAP:')) maps.push(attr(line, 'URI')!);
    else if (line.startsWith('#EXT-X-PRELOAD-HINT:')) hint = attr(line, 'URI');
    else if (line.startsWith('#EXTINF:')) afterInf = true;
    else if (afterInf && line !== '' && !line.startsWith('#')) {
      segments.push({ msn, uri: line });
      msn++;
      index = 0;
      afterInf = false;
    }
  }
  const last = parts[parts.length - 1];
  const lastComplete = segments[segments.length - 1];
  const next = last === undefined || (lastComplete !== undefined && lastComplete.msn >= last.msn) ? { msn, part: 0 } : { msn: last.msn, part: last.index + 1 };
  return { mediaSequence, parts, segments, maps, hint, skipped, next, text };
}

/** The first URI line after `#EXT-X-STREAM-INF`. */
export function variantUri(multivariant: string): string {
  const lines = multivariant.split('\n');
  const at = lines.findIndex((l) => l.startsWith('#EXT-X-STREAM-INF:'));
  return lines[at + 1]!;
}

/** Part number from a part URI (`<id>-p<n>.m4s`). */
export function partNumber(uri: string): number {
  return Number(/-p(\d+)\.m4s/.exec(uri)![1]);
}

export async function text(url: string, init?: RequestInit): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

export interface FollowResult {
  /** Part numbers in the order received. */
  readonly received: number[];
  readonly bytes: number;
}

/**
 * Loads `base/index.m3u8`, then follows blocking reload, fetching each new
 * part once, until `count` parts arrived after the first playlist.
 * `base` is `http://host:port/<path>`.
 */
export async function followParts(
  base: string,
  count: number,
  o: { deadline: number; useHint?: boolean; onPart?: (part: ParsedPart, arrivedAt: number) => void },
): Promise<FollowResult> {
  const index = await text(`${base}/index.m3u8`);
  if (index.status !== 200) throw new Error(`index.m3u8: ${index.status} ${index.body}`);
  const playlistUrl = `${base}/${variantUri(index.body)}`;
  const first = await text(playlistUrl);
  if (first.status !== 200) throw new Error(`playlist: ${first.status} ${first.body}`);
  let playlist = parsePlaylist(first.body);
  let newest = partNumber(playlist.parts[playlist.parts.length - 1]!.uri);
  const received: number[] = [];
  let bytes = 0;
  /** The hinted part is fetched before the playlist that lists it: its description comes after. */
  const arrivals = new Map<number, number>();
  const fetchPart = async (n: number, uri: string) => {
    const res = await fetch(`${base}/${uri}`);
    if (res.status !== 200) throw new Error(`part ${uri}: ${res.status} ${await res.text()}`);
    bytes += (await res.arrayBuffer()).byteLength;
    arrivals.set(n, performance.timeOrigin + performance.now());
    received.push(n);
  };
  while (received.length < count) {
    if (Date.now() > o.deadline) throw new Error(`deadline passed after ${received.length} parts`);
    const hinted = o.useHint === true && playlist.hint !== undefined ? fetchPart(partNumber(playlist.hint), playlist.hint) : undefined;
    const { msn, part } = playlist.next;
    const res = await text(`${playlistUrl}?_HLS_msn=${msn}&_HLS_part=${part}`);
    if (res.status !== 200) throw new Error(`blocking reload msn=${msn} part=${part}: ${res.status} ${res.body}`);
    await hinted;
    playlist = parsePlaylist(res.body);
    for (const p of playlist.parts) {
      const n = partNumber(p.uri);
      if (n <= newest) continue;
      if (!received.includes(n)) await fetchPart(n, p.uri);
      o.onPart?.(p, arrivals.get(n)!);
      arrivals.delete(n);
      newest = n;
    }
  }
  return { received, bytes };
}
