/**
 * moq-lite control messages as @moq/net 0.2.8–0.3.4 speak them (docs/protocols/moq.md),
 * for the versions Polycast serves: lite-01 and lite-02 (reached through the
 * IETF-draft-14-shaped compat setup), lite-03, lite-04 and lite-05 (chosen
 * through the WebTransport or WebSocket subprotocol).
 */
import { encodeVarint } from '../../src/protocols/http3/varint.js';
import { MessageReader, MessageWriter, MoqProtocolError, normalizePath, prefixVarint } from './wire.js';

export const LiteVersion = {
  DRAFT_01: 0xff0dad01,
  DRAFT_02: 0xff0dad02,
  DRAFT_03: 0xff0dad03,
  DRAFT_04: 0xff0dad04,
  DRAFT_05: 0xff0dad05,
} as const;
export type LiteVersion = (typeof LiteVersion)[keyof typeof LiteVersion];

/** Versions the compat setup may choose, most preferred first. */
export const COMPAT_VERSIONS: readonly LiteVersion[] = [LiteVersion.DRAFT_02, LiteVersion.DRAFT_01];

/** Subprotocols (WebTransport, or the application part of QMux's) that pin a version, most preferred first. */
export const PROTOCOL_VERSIONS: ReadonlyMap<string, LiteVersion> = new Map([
  ['moq-lite-05', LiteVersion.DRAFT_05],
  ['moq-lite-04', LiteVersion.DRAFT_04],
  ['moq-lite-03', LiteVersion.DRAFT_03],
]);

export function versionName(v: number): string {
  switch (v) {
    case LiteVersion.DRAFT_01:
      return 'moq-lite-01';
    case LiteVersion.DRAFT_02:
      return 'moq-lite-02';
    case LiteVersion.DRAFT_03:
      return 'moq-lite-03';
    case LiteVersion.DRAFT_04:
      return 'moq-lite-04';
    case LiteVersion.DRAFT_05:
      return 'moq-lite-05';
    default:
      return `0x${v.toString(16)}`;
  }
}

/** The type varint that opens every client bidirectional stream. */
export const StreamType = {
  Session: 0,
  Announce: 1,
  Subscribe: 2,
  Fetch: 3,
  Probe: 4,
  Goaway: 5,
  Track: 6,
  ClientCompat: 0x20,
  ServerCompat: 0x21,
} as const;

/** The type varint that opens every unidirectional stream: groups, and (lite-05) each side's SETUP. */
export const DataType = { Group: 0, Setup: 1 } as const;

/**
 * lite-05 reshaped the session: a SETUP on a unidirectional stream from each
 * side, TRACK streams for a track's fixed properties, ANNOUNCE_OK in front
 * of announcements, SUBSCRIBE_START instead of SUBSCRIBE_OK, and a
 * timestamp in front of every frame.
 */
export function isLite05(version: LiteVersion): boolean {
  return version === LiteVersion.DRAFT_05;
}

/**
 * WebTransport application codes Polycast resets streams and closes sessions
 * with. moq-lite leaves codes to the implementation; these are ours.
 */
export const MoqErrorCode = {
  /** Normal end: the subscription or session is simply over. */
  None: 0,
  Internal: 1,
  ProtocolViolation: 2,
  NotFound: 3,
  Unauthorized: 4,
  TooMany: 5,
  /** A stream type or version we do not serve. */
  Unsupported: 6,
  /** A group was superseded by newer ones before it was through. */
  GroupDropped: 7,
  /** The server is shutting down. */
  GoingAway: 8,
} as const;

const MAX_VERSIONS = 128;
const MAX_PARAMETERS = 64;

/** IETF draft-14 CLIENT_SETUP as the compat handshake carries it (after the 0x20 type, u16-length framed). */
export interface ClientSetup {
  readonly versions: number[];
  /** Even ids carry a varint, odd ids bytes. */
  readonly parameters: Map<bigint, bigint | Uint8Array>;
}

export function decodeClientSetup(r: MessageReader): ClientSetup {
  const count = r.varint();
  if (count > MAX_VERSIONS) throw new MoqProtocolError(`client setup: ${count} versions`);
  const versions: number[] = [];
  for (let i = 0; i < count; i++) versions.push(r.varint());
  const parameters = decodeSetupParameters(r);
  r.end();
  return { versions, parameters };
}

function decodeSetupParameters(r: MessageReader): Map<bigint, bigint | Uint8Array> {
  const count = r.varint();
  if (count > MAX_PARAMETERS) throw new MoqProtocolError(`setup: ${count} parameters`);
  const out = new Map<bigint, bigint | Uint8Array>();
  for (let i = 0; i < count; i++) {
    const id = r.varintBig();
    if (out.has(id)) throw new MoqProtocolError(`setup: duplicate parameter ${id}`);
    out.set(id, id % 2n === 0n ? r.varintBig() : r.bytes(r.varint()));
  }
  return out;
}

/** Setup parameter ids (IETF draft-14 numbering). */
export const SetupParameter = { Implementation: 7n } as const;

/** `0x21` + SERVER_SETUP: the version we chose and our parameters. */
export function encodeServerSetup(version: number, parameters: ReadonlyMap<bigint, bigint | Uint8Array>): Uint8Array {
  const w = new MessageWriter().varint(version).varint(parameters.size);
  for (const [id, value] of parameters) {
    w.varint(id);
    if (typeof value === 'bigint') w.varint(value);
    else w.varint(value.length).bytes(value);
  }
  return prefixVarint(StreamType.ServerCompat, w.sizedU16());
}

/** ANNOUNCE_REQUEST (called AnnounceInterest before lite-05): which prefix the client wants to hear about. */
export interface AnnounceRequest {
  readonly prefix: string;
  /** lite-04: the client's origin id, for loop avoidance between relays; an origin never forwards, so unused. */
  readonly excludeHop?: bigint;
}

export function decodeAnnounceRequest(r: MessageReader, version: LiteVersion): AnnounceRequest {
  const prefix = normalizePath(r.string());
  const excludeHop = version === LiteVersion.DRAFT_04 || version === LiteVersion.DRAFT_05 ? r.varintBig() : undefined;
  r.end();
  return { prefix, excludeHop };
}

/** ANNOUNCE_INIT (lite-01/02 only): the suffixes live under the prefix when the request arrived. */
export function encodeAnnounceInit(suffixes: readonly string[]): Uint8Array {
  const w = new MessageWriter().varint(suffixes.length);
  for (const s of suffixes) w.string(s);
  return w.sized();
}

/** Whether a version opens an announce stream with ANNOUNCE_INIT (later ones send one ANNOUNCE per live path). */
export function hasAnnounceInit(version: LiteVersion): boolean {
  return version === LiteVersion.DRAFT_01 || version === LiteVersion.DRAFT_02;
}

/** ANNOUNCE: a broadcast under the prefix went live or ended. We originate every broadcast, so the hop list is empty. */
export function encodeAnnounce(version: LiteVersion, active: boolean, suffix: string): Uint8Array {
  const w = new MessageWriter().u8(active ? 1 : 0).string(suffix);
  if (!hasAnnounceInit(version)) w.varint(0);
  return w.sized();
}

/**
 * ANNOUNCE_OK (lite-05): our origin id, which the subscriber appends to the
 * hop chains itself (@moq/net 0.2.8 rejects 0), and how many ANNOUNCEs
 * for live broadcasts follow at once.
 */
export function encodeAnnounceOk(origin: bigint, active: number): Uint8Array {
  return new MessageWriter().varint(origin).varint(active).sized();
}

export interface Subscribe {
  readonly id: bigint;
  readonly broadcast: string;
  readonly track: string;
  /** The subscriber's priority for this track, higher first. */
  readonly priority: number;
  /** lite-03+: deliver groups oldest first instead of newest first. */
  readonly ordered: boolean;
  /** lite-03+: milliseconds of latency after which groups may be skipped; 0 is unlimited. */
  readonly maxLatency: number;
  /** lite-03+: first and last group wanted; undefined is "from the newest" / "no end". */
  readonly startGroup: number | undefined;
  readonly endGroup: number | undefined;
}

export function decodeSubscribe(r: MessageReader, version: LiteVersion): Subscribe {
  const id = r.varintBig();
  const broadcast = normalizePath(r.string());
  const track = r.string();
  const priority = r.u8();
  let ordered = false;
  let maxLatency = 0;
  let startGroup: number | undefined;
  let endGroup: number | undefined;
  if (!hasAnnounceInit(version)) {
    ordered = r.bool();
    maxLatency = r.varint();
    startGroup = optionalGroup(r.varint());
    endGroup = optionalGroup(r.varint());
  }
  r.end();
  return { id, broadcast, track, priority, ordered, maxLatency, startGroup, endGroup };
}

/** Group bounds travel as value + 1, with 0 meaning "none". */
function optionalGroup(v: number): number | undefined {
  return v === 0 ? undefined : v - 1;
}

export interface SubscribeUpdate {
  readonly priority: number;
  readonly ordered: boolean;
  readonly maxLatency: number;
  readonly startGroup: number | undefined;
  readonly endGroup: number | undefined;
}

export function decodeSubscribeUpdate(r: MessageReader, version: LiteVersion): SubscribeUpdate {
  const priority = r.u8();
  if (hasAnnounceInit(version)) {
    r.end();
    return { priority, ordered: false, maxLatency: 0, startGroup: undefined, endGroup: undefined };
  }
  const ordered = r.bool();
  const maxLatency = r.varint();
  const startGroup = optionalGroup(r.varint());
  const endGroup = optionalGroup(r.varint());
  r.end();
  return { priority, ordered, maxLatency, startGroup, endGroup };
}

/**
 * SUBSCRIBE_OK: the subscription is accepted. Empty on lite-02; lite-01
 * echoes the priority; lite-03/04 put a response type (0 = OK) in front and
 * describe the delivery (we are unordered, without latency bound, from the
 * newest group, open-ended).
 */
export function encodeSubscribeOk(version: LiteVersion, priority: number): Uint8Array {
  switch (version) {
    case LiteVersion.DRAFT_02:
      return new MessageWriter().sized();
    case LiteVersion.DRAFT_01:
      return new MessageWriter().u8(priority).sized();
    default:
      return prefixVarint(0, new MessageWriter().u8(priority).bool(false).varint(0).varint(0).varint(0).sized());
  }
}

/** SUBSCRIBE_START (lite-05, response type 0): the first group the subscription delivers. */
export function encodeSubscribeStart(group: number): Uint8Array {
  return prefixVarint(0, new MessageWriter().varint(group).sized());
}

/** TRACK (lite-05): which track's fixed properties the client asks for. */
export function decodeTrackRequest(r: MessageReader): { broadcast: string; track: string } {
  const broadcast = normalizePath(r.string());
  const track = r.string();
  r.end();
  return { broadcast, track };
}

/**
 * TRACK_INFO (lite-05): publisher priority, delivery order, latency bound
 * and the timescale of the frame timestamps (never 0).
 */
export function encodeTrackInfo(priority: number, timescale: number): Uint8Array {
  return new MessageWriter().u8(priority).bool(false).varint(0).varint(timescale).sized();
}

/** Timestamps of lite-05 frames are in microseconds, the unit the hang container already uses. */
export const FRAME_TIMESCALE = 1_000_000;

/** A lite-05 SETUP carries a parameter bag we read to check it and otherwise do not use. */
export function decodeSetup(r: MessageReader): void {
  const count = r.varint();
  if (count > MAX_PARAMETERS) throw new MoqProtocolError(`setup: ${count} parameters`);
  const seen = new Set<bigint>();
  for (let i = 0; i < count; i++) {
    const id = r.varintBig();
    if (seen.has(id)) throw new MoqProtocolError(`setup: duplicate parameter ${id}`);
    seen.add(id);
    r.bytes(r.varint());
  }
  r.end();
}

/** Our lite-05 SETUP stream: the data type, then SETUP with no parameters (no probing, no path, no role). */
export function encodeSetupStream(): Uint8Array {
  return prefixVarint(DataType.Setup, new MessageWriter().varint(0).sized());
}

/** The zigzag-coded delta from the previous frame's timestamp that opens each lite-05 frame. */
export function encodeTimestampDelta(delta: number): Uint8Array {
  return encodeVarint(delta >= 0 ? delta * 2 : -delta * 2 - 1);
}

/** What opens a group's unidirectional stream: the data type, then GROUP {subscription id, sequence}. */
export function encodeGroupHeader(subscribeId: bigint, sequence: number): Uint8Array {
  return prefixVarint(DataType.Group, new MessageWriter().varint(subscribeId).varint(sequence).sized());
}

/** One frame inside a group: its size, then its bytes. */
export function encodeFrame(payload: Uint8Array): Uint8Array {
  return prefixVarint(payload.length, payload);
}
