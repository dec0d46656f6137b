/**
 * Data streams: one subgroup per unidirectional stream, a SUBGROUP_HEADER
 * then objects. Polycast writes the header types without a Publisher
 * Priority field (0x30 range: the track's priority applies) and with the
 * subgroup ID implied 0, since a group is always one subgroup here.
 */
import { WireWriter } from './wire.js';
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
