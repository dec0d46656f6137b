/**
 * What the listener answers a caller's handshake, decided from its bytes
 * alone: the induction answer, the checks a conclusion must pass before
 * anyone is asked to authorize it, the passphrase against its key material,
 * and the conclusion or rejection sent back. No state, no sockets.
 */
import {
  buildHandshake,
  buildHsRsp,
  decodeStreamId,
  ExtensionFlag,
  ExtensionType,
  HandshakeType,
  parseHsReq,
  REJECTION_BASE,
  RejectReason,
  SRT_MAGIC,
  SrtFlag,
  type Extension,
  type Handshake,
  type HsReq,
} from '../../protocols/srt/handshake.js';
import { parseKeyMaterial, unwrapKeys, type StreamKeys } from '../../protocols/srt/key-material.js';
import { ControlType, controlPacket } from '../../protocols/srt/packet.js';
import { parseStreamId, type StreamIdRequest } from './stream-id.js';

export const INDUCTION_VERSION = 4;
export const CONCLUSION_VERSION = 5;
const SRT_VERSION = 0x01_05_01;
const MTU = 1500;

export interface Refusal {
  readonly reason: number;
  readonly text: string;
}

export interface Conclusion {
  readonly hsreq: HsReq;
  readonly request: StreamIdRequest;
  readonly kmreq: Extension | undefined;
}

const handshakePacket = (destination: number, body: Uint8Array) => controlPacket(ControlType.handshake, 0, 0, destination, body);

/** Version 5 and the SRT magic tell a version-4 induction that the caller may speak version 5. */
export function inductionAnswer(hs: Handshake, cookie: number): Uint8Array {
  return handshakePacket(
    hs.socketId,
    buildHandshake({ ...hs, version: CONCLUSION_VERSION, encryption: 0, extensionField: SRT_MAGIC, type: HandshakeType.induction, socketId: 0, cookie, peerIp: new Uint8Array(16), extensions: [] }),
  );
}

/** A publish in live mode with a stream id Polycast reads, or why not. */
export function checkConclusion(hs: Handshake): Conclusion | Refusal {
  if (hs.version !== CONCLUSION_VERSION) return { reason: RejectReason.version, text: `handshake version ${hs.version}: SRT 1.3 or later is needed` };
  const ext = (type: number) => hs.extensions.find((e) => e.type === type);
  const hsreqExt = ext(ExtensionType.hsreq);
  if (hsreqExt === undefined) return { reason: RejectReason.rogue, text: 'conclusion without HSREQ' };
  const hsreq = parseHsReq(hsreqExt.body);
  if ((hsreq.flags & SrtFlag.tsbpdSnd) === 0 || (hsreq.flags & SrtFlag.stream) !== 0) {
    return { reason: RejectReason.messageApi, text: 'only live mode (transtype=live) is accepted' };
  }
  const congestion = ext(ExtensionType.congestion);
  // The congestion controller's name travels like the stream id.
  if (congestion !== undefined && decodeStreamId(congestion.body) !== 'live') return { reason: RejectReason.congestion, text: 'only live congestion control is accepted' };
  if (ext(ExtensionType.filter) !== undefined) return { reason: RejectReason.filter, text: 'packet filters (FEC) are not supported' };
  if (ext(ExtensionType.group) !== undefined) return { reason: RejectReason.group, text: 'socket groups are not supported' };
  const sid = ext(ExtensionType.sid);
  if (sid === undefined) return { reason: RejectReason.badRequest, text: 'no stream id: publish with streamid=publish:<path>' };
  const raw = decodeStreamId(sid.body);
  const request = parseStreamId(raw);
  if ('error' in request) return { reason: RejectReason.badRequest, text: `${request.error} (got '${raw.slice(0, 64)}')` };
  if (request.mode === 'read') return { reason: RejectReason.badMode, text: `reading over SRT is not supported; open /${request.path}/ for the player` };
  return { hsreq, request, kmreq: ext(ExtensionType.kmreq) };
}

/** The path's passphrase against the caller's key material: the stream keys, none (no encryption), or why not. */
export function streamKeys(path: string, passphrase: string, kmreq: Extension | undefined): StreamKeys | undefined | Refusal {
  if (passphrase === '' && kmreq === undefined) return undefined;
  if (passphrase === '') return { reason: RejectReason.unsecure, text: `path '${path}' takes no passphrase, but the caller encrypts` };
  if (kmreq === undefined) return { reason: RejectReason.unsecure, text: `path '${path}' needs a passphrase (srtPublishPassphrase)` };
  return unwrapKeys(parseKeyMaterial(kmreq.body), passphrase) ?? { reason: RejectReason.badSecret, text: 'wrong passphrase' };
}

/** The accepting conclusion: Polycast's socket id, HSRSP with the latency it receives with, KMRSP when encrypted. */
export function conclusionAnswer(
  hs: Handshake,
  c: { socketId: number; hsreq: HsReq; latencyMs: number; windowPackets: number; kmreq: Extension | undefined; encrypted: boolean },
): Uint8Array {
  const extensions: Extension[] = [
    buildHsRsp({
      version: SRT_VERSION,
      flags: SrtFlag.tsbpdSnd | SrtFlag.tsbpdRcv | SrtFlag.crypt | SrtFlag.tlpktDrop | SrtFlag.periodicNak | SrtFlag.rexmitFlag,
      receiverDelay: c.latencyMs,
      senderDelay: c.hsreq.receiverDelay,
    }),
  ];
  // Accepted key material is answered by sending it back unchanged.
  if (c.encrypted && c.kmreq !== undefined) extensions.push({ type: ExtensionType.kmrsp, body: c.kmreq.body });
  return handshakePacket(
    hs.socketId,
    buildHandshake({
      version: CONCLUSION_VERSION,
      encryption: c.encrypted ? hs.encryption : 0,
      extensionField: ExtensionFlag.hsreq | (c.encrypted ? ExtensionFlag.kmreq : 0),
      initialSeq: hs.initialSeq,
      mtu: Math.min(hs.mtu, MTU),
      flowWindow: c.windowPackets,
      type: HandshakeType.conclusion,
      socketId: c.socketId,
      cookie: hs.cookie,
      peerIp: new Uint8Array(16),
      extensions,
    }),
  );
}

/** A refusal travels as the handshake type: 1000 + reason. */
export function rejection(hs: Handshake, reason: number): Uint8Array {
  return handshakePacket(
    hs.socketId,
    buildHandshake({ ...hs, version: CONCLUSION_VERSION, encryption: 0, extensionField: 0, type: REJECTION_BASE + reason, socketId: 0, peerIp: new Uint8Array(16), extensions: [] }),
  );
}
