export { QmuxError, QmuxStreamError, TransportErrorCode } from './errors.js';
export { QMUX_VERSIONS, type QmuxVersion } from './frames.js';
export { DEFAULT_LIMITS, QmuxSession, type QmuxLimits, type QmuxSessionOptions } from './session.js';
export { selectQmuxProtocol, type QmuxSelection } from './subprotocol.js';
