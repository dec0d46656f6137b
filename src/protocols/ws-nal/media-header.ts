/**
 * The 26-byte header of every `ws-nal` media message (docs/protocols/ws-nal.md):
 * written by the ws-nal transport, read by an edge pulling from another
 * Polycast. Pure, no sockets.
 */

export const MSG_VIDEO = 0x01;
export const MSG_AUDIO = 0x02;
export const FLAG_KEYFRAME = 0x01;
export const FLAG_DISCONTINUITY = 0x02;
export const MEDIA_HEADER_SIZE = 26;

export interface MediaHeader {
  readonly type: typeof MSG_VIDEO | typeof MSG_AUDIO;
  readonly flags: number;
  /** µs, publisher clock. */
  readonly pts: number;
  readonly dts: number;
  /** µs since the Unix epoch, the sending server's clock. */
  readonly receivedAt: number;
}

/** Writes the 26-byte media header at `offset` of `out`. */
export function writeMediaHeader(
  out: Uint8Array,
  offset: number,
  type: number,
  flags: number,
  ptsUs: number,
  dtsUs: number,
  receivedAtUs: number,
): void {
  const view = new DataView(out.buffer, out.byteOffset + offset, MEDIA_HEADER_SIZE);
  view.setUint8(0, type);
  view.setUint8(1, flags);
  view.setBigInt64(2, BigInt(Math.round(ptsUs)));
  view.setBigInt64(10, BigInt(Math.round(dtsUs)));
  view.setBigInt64(18, BigInt(Math.round(receivedAtUs)));
}

/** The header of a binary message from the server, or why it is not a media message. */
export function readMediaHeader(message: Uint8Array): MediaHeader | { error: string } {
  if (message.byteLength < MEDIA_HEADER_SIZE) return { error: `binary message of ${message.byteLength} bytes, shorter than a media header` };
  const type = message[0]!;
  if (type !== MSG_VIDEO && type !== MSG_AUDIO) return { error: `binary message of unknown type 0x${type.toString(16).padStart(2, '0')}` };
  const view = new DataView(message.buffer, message.byteOffset, MEDIA_HEADER_SIZE);
  return {
    type,
    flags: view.getUint8(1),
    pts: Number(view.getBigInt64(2)),
    dts: Number(view.getBigInt64(10)),
    receivedAt: Number(view.getBigInt64(18)),
  };
}
