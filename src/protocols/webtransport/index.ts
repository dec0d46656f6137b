/** WebTransport (HTTP/3, draft-02 as Chromium speaks it) on quiche's native binding. */
export { WebTransportServer, type WebTransportServerOptions, type WebTransportServerEvents, type HandshakeCounters } from './server.js';
export type { WebTransportRequest, WebTransportResponse, RequestHandler } from './connection.js';
export { serverSettings } from './connection.js';
export {
  WebTransportSession,
  WebTransportSendStream,
  WebTransportReceiveStream,
  WebTransportBidiStream,
  WebTransportStreamError,
  WebTransportSessionClosedError,
  type StreamPriority,
  type SessionRequestInfo,
} from './session.js';
export { generateSelfSignedCertificate, type SelfSignedCertificate, type SelfSignedOptions } from './cert.js';
