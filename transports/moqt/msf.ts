/**
 * The MSF catalog of a Polycast path: built in src/protocols/moqt/msf.ts,
 * beside its parser, which the `moqt://` pull client (src/ingest/moqt) shares.
 */
export * from '../../src/protocols/moqt/msf.js';
