/**
 * @moq/net's moq-lite wire classes for the tests, imported file by file: its
 * `lite/index.d.ts` re-exports without file extensions, which NodeNext
 * resolution cannot follow, so the index would type as empty.
 */
export { AnnounceInit, AnnounceRequest, decodeAnnounceBroadcast, encodeAnnounceBroadcast } from '../../node_modules/@moq/net/lite/announce.js';
export { Group } from '../../node_modules/@moq/net/lite/group.js';
export { DataType, StreamId } from '../../node_modules/@moq/net/lite/stream.js';
export { decodeSubscribeResponse, encodeSubscribeResponse, Subscribe, SubscribeOk, SubscribeUpdate } from '../../node_modules/@moq/net/lite/subscribe.js';
export { Version } from '../../node_modules/@moq/net/lite/version.js';
