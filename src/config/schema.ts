/**
 * The configuration file's JSON Schema (draft-07) and the types of the
 * configuration once resolved.
 *
 * The schema serves two readers: ajv at load time, and editors' YAML language
 * servers through `config/schema.json` (generated from this object by
 * `scripts/write-config-schema.mjs`). So every setting also accepts `null`:
 * an empty value (`runOnInit:`, `cam1:`) means "not set", as in MediaMTX
 * files, and editors must not flag it.
 */
import { ADDRESS_PATTERN } from './address.js';
import { DURATION_PATTERN } from './duration.js';
import { CONFIG_PATH_NAME_PATTERN } from './paths.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type WebSocketProtocol = 'rtwebsocket' | 'standard';
export type PathSource = 'publisher';

export interface Address {
  /** '' means all interfaces. IPv6 hosts are given without brackets. */
  readonly host: string;
  /** 0 asks the OS for a free port. */
  readonly port: number;
}

export interface PathConf {
  readonly source: PathSource;
  /** 0 means unlimited. */
  readonly maxReaders: number;
  /** Shell command run when the path is set up; '' for none. */
  readonly runOnInit: string;
  readonly runOnInitRestart: boolean;
  /** When false, a second publisher is refused instead of replacing the first. */
  readonly overridePublisher: boolean;
}

export interface PathEntry {
  /** The key under `paths:`, e.g. `cam1`, `~^cam(\d+)$` or `all_others`. */
  readonly name: string;
  /** Present for `~regex` and `all_others` entries. */
  readonly regex?: RegExp;
  readonly conf: PathConf;
}

export interface ResolvedConfig {
  /** The file the configuration was read from, as given to the loader. */
  readonly file: string;
  readonly logLevel: LogLevel;
  /** Milliseconds. */
  readonly readTimeout: number;
  /** Milliseconds. */
  readonly writeTimeout: number;
  readonly writeQueueSize: number;
  readonly rtmp: boolean;
  readonly rtmpAddress: Address;
  readonly webAddress: Address;
  /** Origins allowed to use the web endpoints cross-origin; contains '*' to allow any. */
  readonly webAllowOrigins: readonly string[];
  readonly webServerCert: string;
  readonly webServerKey: string;
  readonly webTransport: boolean;
  /** undefined: UDP on the port `webAddress` actually bound (which matters when that port is 0). */
  readonly webTransportAddress: Address | undefined;
  readonly webSocketProtocol: WebSocketProtocol;
  readonly webSocketSegmentSize: number;
  /** '' means find one automatically. */
  readonly ffmpegPath: string;
  readonly api: boolean;
  readonly apiAddress: Address;
  readonly metrics: boolean;
  readonly metricsAddress: Address;
  readonly pathDefaults: PathConf;
  /** In file order (paths created by environment variables last). */
  readonly paths: readonly PathEntry[];
}

/** The subset of JSON Schema draft-07 this schema uses. */
export interface SchemaNode {
  $schema?: string;
  title?: string;
  description?: string;
  $ref?: string;
  type?: string | string[];
  default?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: boolean | SchemaNode;
  propertyNames?: SchemaNode;
  items?: SchemaNode;
  definitions?: Record<string, SchemaNode>;
}

/** `*`, or an origin as browsers send it: scheme://host[:port], no path (a trailing slash never matches). */
export const ORIGIN_PATTERN = '^(?:\\*|[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]+)$';

const ref = (definition: string, description: string, defaultValue?: unknown): SchemaNode => ({
  $ref: `#/definitions/${definition}`,
  description,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
});

const PATH_SETTINGS: ReadonlyArray<[key: string, definition: string, description: string, defaultValue: unknown]> = [
  ['source', 'source', 'Where the stream comes from. Only "publisher" (an RTMP client pushes it) for now.', 'publisher'],
  ['maxReaders', 'nonNegativeInteger', 'Maximum number of simultaneous readers; 0 means unlimited.', 0],
  [
    'runOnInit',
    'string',
    'Shell command run when Polycast starts, for paths with a plain name. Its environment has MTX_PATH, RTMP_PORT and POLYCAST_FFMPEG.',
    '',
  ],
  ['runOnInitRestart', 'boolean', 'Restart the runOnInit command if it exits.', false],
  ['overridePublisher', 'boolean', 'Let a new publisher replace the current one; when no, it is refused.', false],
];

const pathSettings = (withDefaults: boolean): SchemaNode => ({
  type: ['object', 'null'],
  additionalProperties: false,
  properties: Object.fromEntries(
    PATH_SETTINGS.map(([key, definition, description, defaultValue]) => [
      key,
      ref(definition, description, withDefaults ? defaultValue : undefined),
    ]),
  ),
});

export const CONFIG_SCHEMA: SchemaNode = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  title: 'Polycast configuration (mediamtx.yml)',
  type: 'object',
  additionalProperties: false,
  properties: {
    logLevel: ref('logLevel', 'Verbosity of the log: error, warn, info or debug.', 'info'),
    readTimeout: ref('duration', 'Time allowed for a read from a client before the connection is closed.', '10s'),
    writeTimeout: ref('duration', 'Time allowed for a write to a client before the connection is closed.', '10s'),
    writeQueueSize: ref(
      'positiveInteger',
      'Frames a reader may have queued before it is considered too slow.',
      512,
    ),
    rtmp: ref('boolean', 'Accept RTMP publishers.', true),
    rtmpAddress: ref('address', 'TCP address of the RTMP listener.', ':1935'),
    webAddress: ref(
      'address',
      'TCP address of the web server: player page, WebSocket transports, snapshots.',
      ':4443',
    ),
    webAllowOrigins: ref(
      'origins',
      "Origins allowed to use the web endpoints from other sites; '*' allows any.",
      ['*'],
    ),
    webServerCert: ref('string', 'TLS certificate file (PEM) of the web server; empty for plain HTTP.', ''),
    webServerKey: ref('string', 'TLS private key file (PEM) of the web server; empty for plain HTTP.', ''),
    webTransport: ref('boolean', 'Serve WebTransport (HTTP/3 over UDP).', true),
    webTransportAddress: ref(
      'optionalAddress',
      "UDP address of the WebTransport server; empty means webAddress's port.",
      '',
    ),
    webSocketProtocol: ref(
      'webSocketProtocol',
      'Framing of the fMP4 WebSocket transport: rtwebsocket or standard.',
      'rtwebsocket',
    ),
    webSocketSegmentSize: ref('positiveInteger', 'Frames per fMP4 fragment sent over WebSocket.', 1),
    ffmpegPath: ref('string', 'FFmpeg executable used by Polycast and given to hooks; empty means find one.', ''),
    api: ref('boolean', 'Serve the control API.', false),
    apiAddress: ref('address', 'TCP address of the control API.', ':9997'),
    metrics: ref('boolean', 'Serve Prometheus metrics.', false),
    metricsAddress: ref('address', 'TCP address of the metrics endpoint.', ':9998'),
    pathDefaults: ref('pathDefaults', 'Settings every path starts from.', {}),
    paths: ref(
      'pathMap',
      'Paths by name: a plain name, ~regex, or all_others. An empty entry takes pathDefaults as they are.',
      {},
    ),
  },
  definitions: {
    boolean: {
      description: 'yes or no (true and false also work).',
      enum: [true, false, 'yes', 'no', 'Yes', 'No', 'YES', 'NO', null],
    },
    string: { type: ['string', 'null'] },
    duration: {
      description: 'A duration such as 500ms, 10s, 1m30s or 1h.',
      type: ['string', 'null'],
      pattern: DURATION_PATTERN,
    },
    address: {
      description: '[host]:port, e.g. :1935, 127.0.0.1:1935 or [::1]:1935.',
      type: ['string', 'null'],
      pattern: ADDRESS_PATTERN,
    },
    optionalAddress: {
      description: 'Empty, or [host]:port.',
      type: ['string', 'null'],
      pattern: `(?:^$)|(?:${ADDRESS_PATTERN})`,
    },
    positiveInteger: { type: ['integer', 'null'], minimum: 1 },
    nonNegativeInteger: { type: ['integer', 'null'], minimum: 0 },
    logLevel: { enum: ['error', 'warn', 'info', 'debug', null] },
    webSocketProtocol: { enum: ['rtwebsocket', 'standard', null] },
    source: { enum: ['publisher', null] },
    origins: {
      description: "An origin, '*', or a list of them.",
      type: ['string', 'array', 'null'],
      pattern: ORIGIN_PATTERN,
      items: { $ref: '#/definitions/origin' },
    },
    origin: {
      description: "'*' or scheme://host[:port], e.g. https://example.com (no trailing slash).",
      type: 'string',
      pattern: ORIGIN_PATTERN,
    },
    pathSettings: pathSettings(false),
    pathDefaults: pathSettings(true),
    pathMap: {
      type: ['object', 'null'],
      propertyNames: { pattern: CONFIG_PATH_NAME_PATTERN },
      additionalProperties: { $ref: '#/definitions/pathSettings' },
    },
  },
};

/** `config/schema.json`, byte for byte. */
export function configSchemaJson(): string {
  return `${JSON.stringify(CONFIG_SCHEMA, null, 2)}\n`;
}

/** The keys every path accepts, in schema order. */
export const PATH_SETTING_KEYS: readonly string[] = PATH_SETTINGS.map(([key]) => key);

/** The name of the definition a node refers to (`duration`, `pathSettings`...); 'root' for the top. */
export function definitionName(node: SchemaNode): string {
  return node.$ref?.replace('#/definitions/', '') ?? 'root';
}

function deref(node: SchemaNode): SchemaNode {
  return node.$ref === undefined ? node : CONFIG_SCHEMA.definitions![definitionName(node)]!;
}

/** The schema node describing `key` (a property, map entry or array item) inside `node`. */
export function childSchema(node: SchemaNode, key: string | number): SchemaNode | undefined {
  const target = deref(node);
  if (typeof key === 'number') return target.items;
  const property = target.properties?.[key];
  if (property) return property;
  return typeof target.additionalProperties === 'object' ? target.additionalProperties : undefined;
}

/** The keys a mapping described by `node` accepts (empty for free-form maps such as `paths`). */
export function knownKeys(node: SchemaNode): string[] {
  return Object.keys(deref(node).properties ?? {});
}
