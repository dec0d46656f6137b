/**
 * `Sec-WebSocket-Protocol` negotiation of QMux as @moq/qmux and moq-relay
 * speak it: `qmux-VV.<alpn>` pins both the QMux draft and the application
 * protocol; a bare `qmux-VV` pins only the draft (the application then
 * negotiates in-band). The legacy bare `webtransport` framing is not served.
 */
import { QMUX_VERSIONS, type QmuxVersion } from './frames.js';

export interface QmuxSelection {
  /** The value to answer in `Sec-WebSocket-Protocol`. */
  readonly header: string;
  readonly version: QmuxVersion;
  /** The application protocol, or undefined for a bare `qmux-VV`. */
  readonly application: string | undefined;
}

/**
 * Our pick among the offered subprotocols: the first of `applications` (our
 * preference, not the client's) that is offered with any QMux draft, newest
 * draft first; failing that, the newest bare draft offered.
 */
export function selectQmuxProtocol(offered: Iterable<string>, applications: readonly string[]): QmuxSelection | undefined {
  const set = new Set([...offered].map((p) => p.trim()));
  for (const application of applications) {
    for (const version of QMUX_VERSIONS) {
      const header = `${version}.${application}`;
      if (set.has(header)) return { header, version, application };
    }
  }
  for (const version of QMUX_VERSIONS) if (set.has(version)) return { header: version, version, application: undefined };
  return undefined;
}
