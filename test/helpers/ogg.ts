/**
 * Ogg (RFC 3533) packet reading for one logical Opus stream (RFC 7845):
 * the identification header, then the audio packets (the comment header
 * skipped). Enough for ffmpeg's `-f ogg`/`-f opus` output in tests.
 */

export interface OggOpus {
  readonly head: Uint8Array;
  readonly packets: Uint8Array[];
  /** Granule position (48 kHz samples, pre-skip included) after each packet that ends a page; undefined elsewhere. */
  readonly granules: (number | undefined)[];
}

export function readOggOpus(file: Uint8Array): OggOpus {
  const all: Uint8Array[] = [];
  const granules: (number | undefined)[] = [];
  let partial: Uint8Array[] = [];
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  for (let at = 0; at + 27 <= file.length; ) {
    if (String.fromCharCode(...file.subarray(at, at + 4)) !== 'OggS') throw new Error(`no Ogg page at ${at}`);
    const granule = Number(view.getBigInt64(at + 6, true));
    const segments = file[at + 26]!;
    const lacing = file.subarray(at + 27, at + 27 + segments);
    let p = at + 27 + segments;
    let lastEnded = -1;
    for (const len of lacing) {
      partial.push(file.subarray(p, p + len));
      p += len;
      if (len < 255) {
        all.push(Buffer.concat(partial));
        granules.push(undefined);
        lastEnded = all.length - 1;
        partial = [];
      }
    }
    if (lastEnded >= 0) granules[lastEnded] = granule;
    at = p;
  }
  const [head, _tags, ...packets] = all;
  if (head === undefined) throw new Error('no Ogg packets');
  return { head: Uint8Array.from(head), packets, granules: granules.slice(2) };
}
