/**
 * JSON Schemas of the control API's answers, so fastify validates what comes
 * in and serializes what goes out (fields not listed here never leak out).
 */

const str = { type: 'string' } as const;
const int = { type: 'integer' } as const;
const bool = { type: 'boolean' } as const;
const nullableStr = { type: ['string', 'null'] } as const;

export const OK = { type: 'object', properties: { status: { type: 'string', enum: ['ok'] } }, required: ['status'] } as const;

export const ERROR = { type: 'object', properties: { status: { type: 'string', enum: ['error'] }, error: str }, required: ['error'] } as const;

export const ID_PARAMS = { type: 'object', properties: { id: { type: 'string', minLength: 1 } }, required: ['id'] } as const;

export const INFO = { type: 'object', properties: { version: str, started: str }, required: ['version', 'started'] } as const;

/** Configuration in file form: free-form here, validated by the configuration's own schema when applied. */
export const SETTINGS = { type: 'object', additionalProperties: true } as const;

export const PATH = {
  type: 'object',
  properties: {
    name: str,
    confName: str,
    source: { type: ['object', 'null'], properties: { type: str, id: str } },
    ready: bool,
    readyTime: nullableStr,
    available: bool,
    availableTime: nullableStr,
    online: bool,
    onlineTime: nullableStr,
    tracks: { type: 'array', items: str },
    readers: { type: 'array', items: { type: 'object', properties: { type: str, id: str } } },
    inboundBytes: int,
    outboundBytes: int,
  },
  required: ['name', 'confName', 'source', 'ready', 'available', 'tracks', 'readers', 'inboundBytes', 'outboundBytes'],
} as const;

export const RTMP_CONN = {
  type: 'object',
  properties: {
    id: str,
    created: str,
    remoteAddr: str,
    state: { type: 'string', enum: ['idle', 'publish'] },
    path: str,
    query: str,
    inboundBytes: int,
    outboundBytes: int,
  },
  required: ['id', 'created', 'remoteAddr', 'state', 'path', 'query', 'inboundBytes', 'outboundBytes'],
} as const;

/** A reader session of a Polycast transport; transport-specific fields (e.g. ws-fmp4's `variant`) come along. */
export const SESSION = {
  type: 'object',
  additionalProperties: true,
  properties: {
    id: str,
    created: str,
    remoteAddr: str,
    state: { type: 'string', enum: ['read', 'publish', 'idle'] },
    path: str,
    query: str,
    inboundBytes: int,
    outboundBytes: int,
    outboundFramesDiscarded: int,
  },
  required: ['id', 'created', 'remoteAddr', 'state', 'path', 'query', 'inboundBytes', 'outboundBytes', 'outboundFramesDiscarded'],
} as const;

export const list = (items: object) =>
  ({
    type: 'object',
    properties: { itemCount: int, pageCount: int, items: { type: 'array', items } },
    required: ['itemCount', 'pageCount', 'items'],
  }) as const;

/** A route's answers: `ok` on success, `{ status: 'error', error }` otherwise. */
export const replies = (ok: object) => ({ 200: ok, '4xx': ERROR, '5xx': ERROR });
