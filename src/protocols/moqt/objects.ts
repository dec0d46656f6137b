/**
 * Data streams: one subgroup per unidirectional stream, a SUBGROUP_HEADER
 * then objects. Polycast writes the header types without a Publisher
 * Priority field (0x30 range: the track's priority applies) and with the
 * subgroup ID implied 0, since a group is always one subgroup here.
 */
import { MoqtProtocolError } from './errors.js';
import type { MoqtStreamReader } from './stream-reader.js';
import { WireReader, WireWriter } from './wire.js';
import type { MoqtDraft } from './version.js';

const SUBGROUP_NO_PRIORITY = 0x30;
const HAS_PROPERTIES = 0x01;
/** The subgroup holds the group's last object: its FIN ends the group. */
const CONTAINS_END_OF_GROUP = 0x08;
/** Draft 18 on: the stream starts at the group's first object. */
const FIRST_OBJECT = 0x40;

/** LOC (draft-ietf-moq-loc) Timestamp property, in microseconds: the registry id MediaMTX and @moq/net both read. */
export const LOC_TIMESTAMP_PROPERTY = 0x06;
export const LOC_TIMESCALE = 1_000_000;

export function encodeSubgroupHeader(draft: MoqtDraft, o: { alias: number; group: number; properties: boolean }): Uint8Array {
  let type = SUBGROUP_NO_PRIORITY | CONTAINS_END_OF_GROUP;
  if (o.properties) type |= HAS_PROPERTIES;
  // Every group we send starts at object 0: a subscription joins at a group boundary.
  if (draft >= 18) type |= FIRST_OBJECT;
  return new WireWriter(draft).varint(type).varint(o.alias).varint(o.group).finish();
}

/**
 * One object of a subgroup whose objects are numbered 0, 1, 2…: the Object
 * ID delta is then 0 throughout (the first object's absolute ID, later ones
 * "previous + 1"), so the same bytes serve every group and every subscriber.
 * `timestampUs` present means the header announced properties.
 */
export function encodeObject(draft: MoqtDraft, payload: Uint8Array, timestampUs?: number): Uint8Array {
  const w = new WireWriter(draft).varint(0);
  if (timestampUs !== undefined) {
    const properties = new WireWriter(draft).varint(LOC_TIMESTAMP_PROPERTY).varint(timestampUs).finish();
    w.blob(properties);
  }
  w.blob(payload);
  // An empty payload is followed by an Object Status, 0 = a normal (empty) object.
  if (payload.byteLength === 0) w.varint(0);
  return w.finish();
}

/** Object Status END_OF_GROUP. */
const STATUS_END_OF_GROUP = 0x3;

/**
 * The object after a subgroup's last one that says the group ends there (an
 * empty payload with status END_OF_GROUP): MediaMTX ends every subgroup this
 * way, and its readers require it before they take the subgroup's object.
 */
export function encodeEndOfGroup(draft: MoqtDraft, properties: boolean): Uint8Array {
  const w = new WireWriter(draft).varint(0);
  if (properties) w.varint(0);
  return w.varint(0).varint(STATUS_END_OF_GROUP).finish();
}

// ---- reading subgroup streams (the `moqt://` pull client) ----

export interface SubgroupHeader {
  readonly alias: number;
  readonly group: number;
  /** Objects carry a properties field. */
  readonly properties: boolean;
}

/**
 * SUBGROUP_HEADER after its type (already read, so a caller can tell other
 * stream types): types 0x10–0x1D and 0x30–0x3D, draft 18's 0x40 bit
 * allowed in every draft. Bit 0x01: properties; bits 0x06: the subgroup ID
 * is 0, the first object's ID, or a field (0x04); bit 0x20: no Publisher
 * Priority field.
 */
export async function readSubgroupHeader(type: number, s: MoqtStreamReader, draft: MoqtDraft): Promise<SubgroupHeader> {
  const base = type & ~FIRST_OBJECT;
  const inRange = (base >= 0x10 && base <= 0x1d) || (base >= 0x30 && base <= 0x3d);
  if (!inRange || (base & 0x06) === 0x06) throw new MoqtProtocolError(`data stream of type 0x${type.toString(16)} (a subgroup was expected)`);
  const alias = await s.index(draft);
  const group = await s.index(draft);
  if ((base & 0x06) === 0x04) await s.varint(draft);
  if ((base & 0x20) === 0) await s.bytes(1);
  return { alias, group, properties: (base & HAS_PROPERTIES) !== 0 };
}

export interface ReceivedObject {
  /** LOC Timestamp property (0x06), in the track's units; undefined when absent. */
  readonly timestamp: number | undefined;
  /** Empty for an object with a status instead of a payload. */
  readonly payload: Uint8Array;
}

const MAX_PROPERTIES_BYTES = 4096;

/** The next object of a subgroup, or undefined at the stream's clean end; payloads over `maxPayload` are a protocol error. */
export async function readObject(s: MoqtStreamReader, draft: MoqtDraft, header: SubgroupHeader, maxPayload: number): Promise<ReceivedObject | undefined> {
  if (await s.done()) return undefined;
  await s.varint(draft); // Object ID delta: groups are read in order, whatever their numbering.
  let timestamp: number | undefined;
  if (header.properties) {
    const length = await s.index(draft);
    if (length > MAX_PROPERTIES_BYTES) throw new MoqtProtocolError(`object properties of ${length} bytes (limit ${MAX_PROPERTIES_BYTES})`);
    timestamp = locTimestamp(new WireReader(await s.bytes(length), draft, 'object properties'));
  }
  const length = await s.index(draft);
  if (length > maxPayload) throw new MoqtProtocolError(`object of ${length} bytes (limit ${maxPayload})`);
  if (length === 0) {
    await s.varint(draft); // Object Status: normal, end of group or of track: nothing to play either way.
    return { timestamp, payload: new Uint8Array(0) };
  }
  return { timestamp, payload: await s.bytes(length) };
}

/** The LOC Timestamp among properties (type deltas; even types carry a varint, odd ones a length and bytes). */
function locTimestamp(r: WireReader): number | undefined {
  let type = 0;
  let timestamp: number | undefined;
  for (let i = 0; !r.done; i++) {
    if (i >= 64) throw new MoqtProtocolError('too many object properties');
    type += r.index();
    if (type % 2 === 0) {
      const v = r.varint();
      if (type === LOC_TIMESTAMP_PROPERTY) timestamp = v;
    } else r.blob(MAX_PROPERTIES_BYTES);
  }
  return timestamp;
}
