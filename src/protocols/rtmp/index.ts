/** Polycast's RTMP protocol stack: pure, no sockets (the connection layer is src/ingest/rtmp). */
export * from './acknowledger.js';
export * from './aggregate.js';
export * from './amf0.js';
export * from './chunk-reader.js';
export * from './chunk-writer.js';
export * from './commands.js';
export * from './control.js';
export * from './errors.js';
export * from './handshake.js';
export * from './messages.js';
