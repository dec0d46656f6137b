/**
 * @moq/net's moq-lite wire classes for the tests, imported file by file: its
 * `lite/index.d.ts` re-exports without file extensions, which NodeNext
 * resolution cannot follow, so the index would type as empty.
 */
export { AnnounceInit, AnnounceOk, AnnounceRequest, decodeAnnounceBroadcast, encodeAnnounceBroadcast } from '../../node_modules/@moq/net/lite/announce.js';
export { Group } from '../../node_modules/@moq/net/lite/group.js';
export { DataType, StreamId } from '../../node_modules/@moq/net/lite/stream.js';
export { decodeSubscribeResponse, encodeSubscribeResponse, Subscribe, SubscribeOk, SubscribeStart, SubscribeUpdate } from '../../node_modules/@moq/net/lite/subscribe.js';
export { Setup } from '../../node_modules/@moq/net/lite/setup.js';
export { Track, TrackInfo } from '../../node_modules/@moq/net/lite/track.js';
export { Version } from '../../node_modules/@moq/net/lite/version.js';

import { Writer } from '../../node_modules/@moq/net/stream.js';

/** The bytes an @moq/net encoder writes. */
export async function netBytes(encode: (w: Writer) => Promise<void>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  const w = new Writer(new WritableStream<Uint8Array>({ write: (c) => void chunks.push(Uint8Array.from(c)) }));
  await encode(w);
  return Buffer.concat(chunks);
}
