/**
 * Round trips on a moq-lite session. Chromium's WebTransport has no
 * `getStats()` and moq-lite 01–04 no ping, but an Announce request is
 * answered at once (docs/protocols/moq.md): on 03/04 with an ANNOUNCE when
 * the broadcast is live, on 01/02 always with ANNOUNCE_INIT. The time from
 * the request to the first byte of the answer is one round trip. Each probe
 * is a bidirectional stream of its own, finished as soon as it answered.
 */

export const MOQ_LITE_03 = 'moq-lite-03';
export const MOQ_LITE_04 = 'moq-lite-04';
/**
 * What wt-raw offers as WebTransport subprotocols (or inside QMux's), preferred first. A browser that cannot
 * negotiate one gets moq-lite 02 through `@moq/net`'s compat setup instead, whose announce request the RTT probe
 * writes the same way as 03's. lite-05 is not offered: the probe reads an announce stream's first byte, which
 * lite-05's ANNOUNCE_OK sends even when nothing is live.
 */
export const MOQ_PROTOCOLS: readonly string[] = [MOQ_LITE_04, MOQ_LITE_03];

/** Stream type of an Announce stream. */
const STREAM_ANNOUNCE = 1;

export function encodeVarint(value: number): Uint8Array {
  if (value < 0x40) return Uint8Array.of(value);
  if (value < 0x4000) return Uint8Array.of(0x40 | (value >> 8), value & 0xff);
  if (value < 0x4000_0000) return Uint8Array.of(0x80 | (value >>> 24), (value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff);
  throw new RangeError(`varint ${value} is out of range here`);
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

/** The opening bytes of an Announce stream asking about `prefix`: stream type, then ANNOUNCE_REQUEST. */
export function encodeAnnounceRequest(prefix: string, protocol: string): Uint8Array {
  const path = new TextEncoder().encode(prefix);
  // lite-04 adds an exclude-hop origin id (0 excludes nothing); 01–03 have the prefix alone.
  const body = concat([encodeVarint(path.byteLength), path, ...(protocol === MOQ_LITE_04 ? [encodeVarint(0)] : [])]);
  return concat([encodeVarint(STREAM_ANNOUNCE), encodeVarint(body.byteLength), body]);
}

/**
 * One probe: resolves with the round trip in ms, or null when nothing came
 * back within `timeoutMs` (the broadcast is not live: nothing to announce).
 */
export async function probeRtt(transport: WebTransport, prefix: string, protocol: string, timeoutMs: number): Promise<number | null> {
  const stream = await transport.createBidirectionalStream();
  const writer = stream.writable.getWriter();
  const reader = stream.readable.getReader() as ReadableStreamDefaultReader<Uint8Array>;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const sentAt = performance.now();
  try {
    await writer.write(encodeAnnounceRequest(prefix, protocol));
    const timeout = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), timeoutMs)));
    const answer = await Promise.race([reader.read().then((r) => (r.done ? null : performance.now() - sentAt)), timeout]);
    return answer;
  } finally {
    clearTimeout(timer);
    // FIN ends the request on the server, which then ends its side; what is still coming is not wanted.
    writer.close().catch(() => undefined);
    reader.cancel().catch(() => undefined);
  }
}
