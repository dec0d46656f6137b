/**
 * The control messages a publisher-only moq-transport endpoint reads and
 * writes, drafts 16 to 19. Layouts follow the drafts; where they changed:
 * draft 17 dropped the Request ID from responses (each request has its own
 * stream), gave message parameters per-type value encodings instead of the
 * even/odd rule, and (draft 17 only) put a Required Request ID Delta in
 * SUBSCRIBE.
 */
import { MoqtProtocolError } from './errors.js';
import { frameMessage, WireReader, WireWriter } from './wire.js';
import { hasStreamPerRequest, type MoqtDraft } from './version.js';

export const MessageType = {
  RequestUpdate: 0x02,
  Subscribe: 0x03,
  SubscribeOk: 0x04,
  RequestError: 0x05,
  PublishNamespace: 0x06,
  RequestOk: 0x07,
  PublishNamespaceDone: 0x09,
  Unsubscribe: 0x0a,
  PublishDone: 0x0b,
  PublishNamespaceCancel: 0x0c,
  TrackStatus: 0x0d,
  GoAway: 0x10,
  SubscribeNamespace: 0x11,
  UnsubscribeNamespace: 0x14,
  MaxRequestId: 0x15,
  Fetch: 0x16,
  FetchCancel: 0x17,
  RequestsBlocked: 0x1a,
  Publish: 0x1d,
  ClientSetup: 0x20,
  ServerSetup: 0x21,
  /** Draft 18's SUBSCRIBE_NAMESPACE on its own stream. */
  SubscribeNamespaceStream: 0x50,
  /** Draft 17's SETUP, the first thing on each side's setup stream. */
  Setup: 0x2f00,
} as const;

/** Requests a client may make of us that we answer with REQUEST_ERROR (NOT_SUPPORTED) rather than end the session over. */
export const REFUSED_REQUESTS: ReadonlySet<number> = new Set([
  MessageType.PublishNamespace,
  MessageType.TrackStatus,
  MessageType.SubscribeNamespace,
  MessageType.SubscribeNamespaceStream,
  MessageType.Fetch,
  MessageType.Publish,
]);

const SetupOption = { MaxRequestId: 0x02, Implementation: 0x07 } as const;

const Param = {
  AuthorizationToken: 0x03,
  Forward: 0x10,
  SubscriberPriority: 0x20,
  LargestObject: 0x09,
  SubscriptionFilter: 0x21,
} as const;

const Property = { Timescale: 0x08, DefaultGroupOrder: 0x22 } as const;
/** Newest group first. */
const GROUP_ORDER_DESCENDING = 2;

/** How draft 17 on encodes each message parameter's value; a type not listed cannot be skipped and so cannot be accepted. */
const PARAM_KIND = new Map<number, 'varint' | 'uint8' | 'bool' | 'bytes'>([
  [0x02, 'varint'], // DELIVERY_TIMEOUT
  [0x03, 'bytes'], // AUTHORIZATION_TOKEN
  [0x04, 'varint'], // MAX_CACHE_DURATION
  [0x06, 'varint'], // SUBGROUP_DELIVERY_TIMEOUT
  [0x08, 'varint'], // EXPIRES
  [0x09, 'bytes'], // LARGEST_OBJECT
  [0x0e, 'uint8'], // PUBLISHER_PRIORITY
  [0x10, 'bool'], // FORWARD
  [0x20, 'uint8'], // SUBSCRIBER_PRIORITY
  [0x21, 'bytes'], // SUBSCRIPTION_FILTER
  [0x22, 'uint8'], // GROUP_ORDER
]);

const MAX_PARAMETERS = 64;
const MAX_PARAMETER_BYTES = 4096;
const MAX_NAMESPACE_FIELDS = 32;
const MAX_NAME_BYTES = 4096;

/** A decoded parameter: a number for integer kinds, bytes otherwise. */
type ParameterValue = number | Uint8Array;

/** SETUP options and draft-16 parameters share the rule: even types carry a varint, odd ones a length and bytes. Types are deltas from the previous one (draft 16 on). */
function readEvenOddPairs(r: WireReader, count: number | undefined): Map<number, ParameterValue> {
  const out = new Map<number, ParameterValue>();
  let type = 0;
  for (let i = 0; count === undefined ? !r.done : i < count; i++) {
    if (i >= MAX_PARAMETERS) throw new MoqtProtocolError('too many parameters');
    type += r.index();
    out.set(type, type % 2 === 0 ? r.varint() : r.blob(MAX_PARAMETER_BYTES));
  }
  return out;
}

function readParameters(r: WireReader): Map<number, ParameterValue> {
  const count = r.index();
  if (count > MAX_PARAMETERS) throw new MoqtProtocolError(`${count} parameters`);
  if (!hasStreamPerRequest(r.draft)) return readEvenOddPairs(r, count);
  const out = new Map<number, ParameterValue>();
  let type = 0;
  for (let i = 0; i < count; i++) {
    type += r.index();
    const kind = PARAM_KIND.get(type);
    if (kind === undefined) throw new MoqtProtocolError(`unknown message parameter 0x${type.toString(16)}`);
    if (kind === 'varint') out.set(type, r.varint());
    else if (kind === 'bytes') out.set(type, r.blob(MAX_PARAMETER_BYTES));
    else {
      const v = r.u8();
      if (kind === 'bool' && v > 1) throw new MoqtProtocolError(`parameter 0x${type.toString(16)} is not a boolean`);
      out.set(type, v);
    }
  }
  return out;
}

/** Draft 16's CLIENT_SETUP (the version came with the subprotocol) and draft 17's SETUP carry only options we need not act on; parsing them checks their form. */
export function decodeSetup(body: WireReader): void {
  readEvenOddPairs(body, hasStreamPerRequest(body.draft) ? undefined : body.index());
}

/** SERVER_SETUP (draft 16) or SETUP (17 on), framed. */
export function encodeSetup(draft: MoqtDraft, o: { implementation: string; maxRequestId: number }): Uint8Array {
  const w = new WireWriter(draft);
  const implementation = new TextEncoder().encode(o.implementation);
  if (hasStreamPerRequest(draft)) {
    w.varint(SetupOption.Implementation).blob(implementation);
    return frameMessage(draft, MessageType.Setup, w.finish());
  }
  w.varint(2).varint(SetupOption.MaxRequestId).varint(o.maxRequestId);
  w.varint(SetupOption.Implementation - SetupOption.MaxRequestId).blob(implementation);
  return frameMessage(draft, MessageType.ServerSetup, w.finish());
}

export interface SubscribeRequest {
  readonly requestId: number;
  readonly namespace: readonly string[];
  readonly track: string;
  /** Filter type 0x1, NextGroupStart: nothing from the group in progress. */
  readonly nextGroupStart: boolean;
  readonly forward: boolean;
  /** An AUTHORIZATION_TOKEN carried by value (alias type USE_VALUE), as text: MediaMTX sends `Basic …` or `Bearer …` this way. */
  readonly authorization?: string;
}

export function decodeSubscribe(r: WireReader): SubscribeRequest {
  const requestId = r.index();
  if (r.draft === 17) r.varint(); // Required Request ID Delta: we answer requests in any order.
  const fields = r.index();
  // An empty namespace is well formed (MediaMTX's clients send one; the session's URL names the path).
  if (fields > MAX_NAMESPACE_FIELDS) throw new MoqtProtocolError(`namespace of ${fields} fields`);
  const namespace: string[] = [];
  for (let i = 0; i < fields; i++) namespace.push(r.string(MAX_NAME_BYTES));
  const track = r.string(MAX_NAME_BYTES);
  const params = readParameters(r);
  // Draft 16 ends SUBSCRIBE with its parameters; nothing may follow.
  r.end();
  const filter = params.get(Param.SubscriptionFilter);
  let nextGroupStart = false;
  if (filter instanceof Uint8Array && filter.byteLength > 0) nextGroupStart = new WireReader(filter, r.draft, 'subscription filter').varint() === 0x1;
  const token = params.get(Param.AuthorizationToken);
  const authorization = token instanceof Uint8Array ? tokenValue(token, r.draft) : undefined;
  return { requestId, namespace, track, nextGroupStart, forward: params.get(Param.Forward) !== 0, ...(authorization === undefined ? {} : { authorization }) };
}

/** The value of an AUTHORIZATION_TOKEN given by value (Alias Type USE_VALUE, Token Type, Token Value), as text; undefined for the other alias types. */
function tokenValue(token: Uint8Array, draft: MoqtDraft): string | undefined {
  const r = new WireReader(token, draft, 'authorization token');
  if (r.varint() !== TOKEN_USE_VALUE) return undefined;
  r.varint(); // Token Type: MediaMTX sends 0 or 1; the value says which scheme.
  return new TextDecoder().decode(r.rest());
}

/** The Request ID every draft-16 request (and UNSUBSCRIBE) starts with. */
export function decodeRequestId(r: WireReader): number {
  return r.index();
}

export interface Location {
  readonly group: number;
  readonly object: number;
}

/**
 * SUBSCRIBE_OK. `largest` becomes the LARGEST_OBJECT parameter; MediaMTX's
 * parsers take no parameter but an authorization token, so its clients are
 * answered without (`largest` undefined), as MediaMTX answers.
 */
export function encodeSubscribeOk(draft: MoqtDraft, o: { requestId: number; alias: number; largest?: Location; timescale: number }): Uint8Array {
  const w = new WireWriter(draft);
  if (!hasStreamPerRequest(draft)) w.varint(o.requestId);
  w.varint(o.alias);
  if (o.largest === undefined) w.varint(0);
  else {
    const location = new WireWriter(draft).varint(o.largest.group).varint(o.largest.object).finish();
    w.varint(1).varint(Param.LargestObject).blob(location);
  }
  // Track Properties (draft 17 on; draft 16's Track Extensions never registered these): the units of LOC timestamps, and our group order.
  if (hasStreamPerRequest(draft)) {
    w.varint(Property.Timescale).varint(o.timescale);
    w.varint(Property.DefaultGroupOrder - Property.Timescale).varint(GROUP_ORDER_DESCENDING);
  }
  return frameMessage(draft, MessageType.SubscribeOk, w.finish());
}

export function encodeRequestError(draft: MoqtDraft, o: { requestId: number; code: number; reason: string }): Uint8Array {
  const w = new WireWriter(draft);
  if (!hasStreamPerRequest(draft)) w.varint(o.requestId);
  w.varint(o.code).varint(0).string(o.reason.slice(0, 200));
  return frameMessage(draft, MessageType.RequestError, w.finish());
}

export function encodeMaxRequestId(draft: MoqtDraft, maxRequestId: number): Uint8Array {
  return frameMessage(draft, MessageType.MaxRequestId, new WireWriter(draft).varint(maxRequestId).finish());
}

// ---- the subscriber's side (the `moqt://` pull client) ----

/** CLIENT_SETUP (draft 16, first on the control stream) or SETUP (17 on, first on our setup stream), framed: only the implementation option. */
export function encodeClientSetup(draft: MoqtDraft, implementation: string): Uint8Array {
  const w = new WireWriter(draft);
  const name = new TextEncoder().encode(implementation);
  if (hasStreamPerRequest(draft)) {
    w.varint(SetupOption.Implementation).blob(name);
    return frameMessage(draft, MessageType.Setup, w.finish());
  }
  w.varint(1).varint(SetupOption.Implementation).blob(name);
  return frameMessage(draft, MessageType.ClientSetup, w.finish());
}

/** AUTHORIZATION_TOKEN's Alias Type "USE_VALUE": the token is in the parameter itself. */
const TOKEN_USE_VALUE = 0x3;
/** The token type MediaMTX sends its `Basic …` credentials as. */
const TOKEN_TYPE_CREDENTIALS = 0x1;

/**
 * SUBSCRIBE with the publisher's defaults (forward, its group order, and the
 * largest-object filter: join at the group in progress), which is what a
 * live pull wants. `authorization` (e.g. `Basic …`) goes as an
 * AUTHORIZATION_TOKEN parameter, USE_VALUE, the way MediaMTX sends and
 * reads credentials.
 */
export function encodeSubscribe(draft: MoqtDraft, o: { requestId: number; namespace: readonly string[]; track: string; authorization?: string }): Uint8Array {
  const w = new WireWriter(draft).varint(o.requestId);
  if (draft === 17) w.varint(0); // Required Request ID Delta: none.
  w.varint(o.namespace.length);
  for (const field of o.namespace) w.string(field);
  w.string(o.track);
  if (o.authorization === undefined) w.varint(0);
  else {
    const token = new WireWriter(draft).varint(TOKEN_USE_VALUE).varint(TOKEN_TYPE_CREDENTIALS).bytes(new TextEncoder().encode(o.authorization)).finish();
    w.varint(1).varint(Param.AuthorizationToken).blob(token);
  }
  return frameMessage(draft, MessageType.Subscribe, w.finish());
}

export interface SubscribeOk {
  readonly requestId: number | undefined;
  readonly alias: number;
  /** The TIMESCALE track property (draft 17 on): units per second of LOC timestamps. */
  readonly timescale: number | undefined;
}

/** SUBSCRIBE_OK: the Request ID (draft 16), the Track Alias, parameters, then track properties (whatever rule they follow, even types carry varints). */
export function decodeSubscribeOk(r: WireReader): SubscribeOk {
  const requestId = hasStreamPerRequest(r.draft) ? undefined : r.index();
  const alias = r.index();
  readParameters(r);
  const properties = readEvenOddPairs(r, undefined);
  const timescale = properties.get(Property.Timescale);
  if (timescale !== undefined && (typeof timescale !== 'number' || !Number.isSafeInteger(timescale) || timescale <= 0)) {
    throw new MoqtProtocolError(`SUBSCRIBE_OK: TIMESCALE ${String(timescale)}`);
  }
  return { requestId, alias, timescale };
}

export interface RequestErrorMessage {
  readonly requestId: number | undefined;
  readonly code: number;
  readonly reason: string;
}

export function decodeRequestError(r: WireReader): RequestErrorMessage {
  const requestId = hasStreamPerRequest(r.draft) ? undefined : r.index();
  const code = r.varint();
  r.varint(); // Retry Interval
  const reason = r.string(1024);
  return { requestId, code, reason };
}
