/** HTTP/3, QPACK, capsules and WebTransport framing: pure functions, no I/O. */
export * from './errors.js';
export * from './varint.js';
export * from './bytes.js';
export * from './frames.js';
export * from './settings.js';
export * from './huffman.js';
export * from './qpack.js';
export * from './message.js';
export * from './capsule.js';
export * from './webtransport.js';
export * from './quic-initial.js';
