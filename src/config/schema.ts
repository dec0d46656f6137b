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
import { SIZE_PATTERN } from './size.js';
import { SOURCE_PATTERN } from './source.js';

export type LogLevel = 'error' | 'warn' | 'info' | 'debug';
export type WebSocketProtocol = 'rtwebsocket' | 'standard';
/** MediaMTX's names; `mpegts` is accepted by the schema only so the refusal can say why. */
export type HlsVariant = 'lowLatency' | 'fmp4' | 'mpegts';
/** `publisher`, or the URL of a server to pull the stream from (src/config/source.ts). */
export type PathSource = string;
export type AuthMethod = 'internal' | 'http' | 'jwt';
/** HTTPS on the web port: certificates from ACME, from webServerCert/webServerKey, or none (docs/https.md). */
export type WebTLSMode = 'auto' | 'local' | 'files' | 'off';
/** MediaMTX's actions; `playback` and `pprof` are accepted so MediaMTX files load, and grant nothing here. */
export type AuthAction = 'publish' | 'read' | 'playback' | 'api' | 'metrics' | 'pprof';

export interface AuthPermission {
  readonly action: AuthAction;
  /** '' for any path, `~regex` (unanchored, as in MediaMTX), or an exact name. Ignored for api and metrics. */
  readonly path: string;
}

export interface AuthInternalUser {
  /** `any` matches anyone, including anonymous clients. */
  readonly user: string;
  /** Plain, `sha256:<base64>` or `argon2:<PHC string>`. */
  readonly pass: string;
  /** Addresses or CIDR networks the user may come from; empty for anywhere. */
  readonly ips: readonly string[];
  readonly permissions: readonly AuthPermission[];
}

export interface Address {
  /** '' means all interfaces. IPv6 hosts are given without brackets. */
  readonly host: string;
  /** 0 asks the OS for a free port. */
  readonly port: number;
}

export interface PathConf {
  readonly source: PathSource;
  /** With a URL source: pull only while someone reads the path. */
  readonly sourceOnDemand: boolean;
  /** Milliseconds readers wait for an on-demand source to deliver. */
  readonly sourceOnDemandStartTimeout: number;
  /** Milliseconds after the last reader left before an on-demand source is closed. */
  readonly sourceOnDemandCloseAfter: number;
  /** 0 means unlimited. */
  readonly maxReaders: number;
  /** Shell command run when the path is set up; '' for none. */
  readonly runOnInit: string;
  readonly runOnInitRestart: boolean;
  /** When false, a second publisher is refused instead of replacing the first. */
  readonly overridePublisher: boolean;
  /** Started when a reader arrives and nobody publishes; '' for none. */
  readonly runOnDemand: string;
  readonly runOnDemandRestart: boolean;
  /** Milliseconds readers wait for the runOnDemand publisher. */
  readonly runOnDemandStartTimeout: number;
  /** Milliseconds after the last reader left before runOnDemand is stopped. */
  readonly runOnDemandCloseAfter: number;
  readonly runOnUnDemand: string;
  readonly runOnAvailable: string;
  readonly runOnAvailableRestart: boolean;
  readonly runOnUnavailable: string;
  readonly runOnOnline: string;
  readonly runOnOnlineRestart: boolean;
  readonly runOnOffline: string;
  readonly runOnRead: string;
  readonly runOnReadRestart: boolean;
  readonly runOnUnread: string;
  /** Passphrase SRT publishers of the path must encrypt with (10 to 79 characters); '' for none. */
  readonly srtPublishPassphrase: string;
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
  /** Bytes: the largest message an RTMP chunk header may declare; the connection is closed past it. */
  readonly rtmpMaxMessageSize: number;
  /** RTMP connections from one IP that have not been allowed to publish yet; 0 means unlimited. */
  readonly rtmpMaxUnauthenticatedPerIP: number;
  readonly srt: boolean;
  /** UDP address of the SRT listener. */
  readonly srtAddress: Address;
  readonly webAddress: Address;
  /** Origins allowed to use the web endpoints cross-origin; contains '*' to allow any. */
  readonly webAllowOrigins: readonly string[];
  readonly webServerCert: string;
  readonly webServerKey: string;
  /** Resolved: an empty `webTLS` is `files` when webServerCert/webServerKey are set, else `off`. */
  readonly webTLS: WebTLSMode;
  /** Names the ACME certificate covers (`webTLS: auto`); the first is its common name. */
  readonly webTLSDomains: readonly string[];
  readonly webTLSEmail: string;
  /** RFC 8555 directory URL. */
  readonly webTLSACMEDirectory: string;
  /** PEM file of extra roots trusted when talking to the ACME directory; '' for the system's. */
  readonly webTLSACMERootCA: string;
  /** Where the account key and certificates are kept; '' for the default (docs/https.md). */
  readonly webTLSCacheDirectory: string;
  /** Plain-HTTP listener for HTTP-01 challenges and redirects to HTTPS; undefined when empty (none). */
  readonly webTLSHTTPAddress: Address | undefined;
  readonly webTransport: boolean;
  /** undefined: UDP on the port `webAddress` actually bound (which matters when that port is 0). */
  readonly webTransportAddress: Address | undefined;
  readonly webSocketProtocol: WebSocketProtocol;
  readonly webSocketSegmentSize: number;
  readonly hls: boolean;
  readonly hlsVariant: HlsVariant;
  readonly hlsSegmentCount: number;
  /** Milliseconds: the shortest segment; segments end at the first keyframe after it. */
  readonly hlsSegmentDuration: number;
  /** Milliseconds. */
  readonly hlsPartDuration: number;
  /** Bytes. */
  readonly hlsSegmentMaxSize: number;
  readonly hlsAllowOrigins: readonly string[];
  readonly hlsAlwaysRemux: boolean;
  /** Milliseconds without a request after which an on-demand muxer stops. */
  readonly hlsMuxerCloseAfter: number;
  /** Always '' (memory only); anything else is refused at load. */
  readonly hlsDirectory: string;
  /** '' means find one automatically. */
  readonly ffmpegPath: string;
  readonly api: boolean;
  readonly apiAddress: Address;
  readonly metrics: boolean;
  readonly metricsAddress: Address;
  /** Clients (RTMP connections and reader sessions) allowed at once; 0 means unlimited. */
  readonly maxConnections: number;
  readonly runOnConnect: string;
  readonly runOnConnectRestart: boolean;
  readonly runOnDisconnect: string;
  readonly authMethod: AuthMethod;
  readonly authInternalUsers: readonly AuthInternalUser[];
  readonly authHTTPAddress: string;
  readonly authHTTPExclude: readonly AuthPermission[];
  readonly authJWTJWKS: string;
  readonly authJWTClaimKey: string;
  readonly authJWTExclude: readonly AuthPermission[];
  readonly authJWTIssuer: string;
  readonly authJWTAudience: string;
  /** Failed authentications from one IP within `authFailureWindow` that get it blocked; 0 never blocks. */
  readonly authMaxFailures: number;
  /** Milliseconds. */
  readonly authFailureWindow: number;
  /** Milliseconds. */
  readonly authBlockDuration: number;
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
  required?: string[];
  deprecated?: boolean;
  definitions?: Record<string, SchemaNode>;
}

export const AUTH_ACTIONS: readonly AuthAction[] = ['publish', 'read', 'playback', 'api', 'metrics', 'pprof'];

/**
 * MediaMTX's default users minus its playback and pprof grants: anyone may
 * publish and read, the API and metrics answer only on this machine.
 */
export const DEFAULT_AUTH_INTERNAL_USERS = [
  {
    user: 'any',
    pass: '',
    ips: [],
    permissions: [
      { action: 'publish', path: '' },
      { action: 'read', path: '' },
    ],
  },
  {
    user: 'any',
    pass: '',
    ips: ['127.0.0.1', '::1'],
    permissions: [
      { action: 'api', path: '' },
      { action: 'metrics', path: '' },
    ],
  },
];

/** A DNS name an ACME CA can validate over HTTP-01: letters, digits, hyphens, dots; no wildcard. */
export const DOMAIN_PATTERN = '^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$';

/** `*`, or an origin as browsers send it: scheme://host[:port], no path (a trailing slash never matches). */
export const ORIGIN_PATTERN = '^(?:\\*|[A-Za-z][A-Za-z0-9+.-]*://[^/?#\\s]+)$';

const ref = (definition: string, description: string, defaultValue?: unknown): SchemaNode => ({
  $ref: `#/definitions/${definition}`,
  description,
  ...(defaultValue === undefined ? {} : { default: defaultValue }),
});

const PATH_SETTINGS: ReadonlyArray<[key: string, definition: string, description: string, defaultValue: unknown]> = [
  [
    'source',
    'source',
    'Where the stream comes from: "publisher" (an RTMP client pushes it), or the URL of a server to pull it from: rtmp://, rtmps://, ws://…/ws/nal, wss://…/ws/nal, polycast://, moqt:// (IETF moq-transport over WebTransport; docs/edges.md).',
    'publisher',
  ],
  ['sourceOnDemand', 'boolean', 'With a URL source: pull only while someone reads the path (required on ~regex paths).', false],
  ['sourceOnDemandStartTimeout', 'duration', 'How long readers wait for an on-demand source to deliver.', '10s'],
  ['sourceOnDemandCloseAfter', 'duration', 'How long after the last reader left an on-demand source is closed.', '10s'],
  ['maxReaders', 'nonNegativeInteger', 'Maximum number of simultaneous readers; 0 means unlimited.', 0],
  [
    'runOnInit',
    'string',
    'Shell command run when Polycast starts, for paths with a plain name. Its environment has MTX_PATH, RTMP_PORT and POLYCAST_FFMPEG.',
    '',
  ],
  ['runOnInitRestart', 'boolean', 'Restart the runOnInit command if it exits.', false],
  ['overridePublisher', 'boolean', 'Let a new publisher replace the current one; when no, it is refused.', false],
  [
    'runOnDemand',
    'string',
    'Shell command started when a reader asks for the path and nobody publishes it; readers wait for its publisher. Environment: MTX_PATH, MTX_QUERY, RTMP_PORT, G1...',
    '',
  ],
  ['runOnDemandRestart', 'boolean', 'Restart the runOnDemand command if it exits.', false],
  ['runOnDemandStartTimeout', 'duration', 'How long readers wait for the runOnDemand command to publish.', '10s'],
  ['runOnDemandCloseAfter', 'duration', 'How long after the last reader left the runOnDemand command is stopped.', '10s'],
  ['runOnUnDemand', 'string', 'Shell command run when the runOnDemand command is stopped.', ''],
  [
    'runOnAvailable',
    'string',
    'Shell command run while the stream is available (published); stopped when it is not. Environment adds MTX_SOURCE_TYPE, MTX_SOURCE_ID, MTX_QUERY.',
    '',
  ],
  ['runOnAvailableRestart', 'boolean', 'Restart the runOnAvailable command if it exits.', false],
  ['runOnUnavailable', 'string', 'Shell command run when the stream stops being available.', ''],
  ['runOnOnline', 'string', 'Shell command run while the stream is online; in Polycast the same moments as runOnAvailable.', ''],
  ['runOnOnlineRestart', 'boolean', 'Restart the runOnOnline command if it exits.', false],
  ['runOnOffline', 'string', 'Shell command run when the stream stops being online.', ''],
  [
    'runOnRead',
    'string',
    'Shell command run while a client reads the path. Environment adds MTX_READER_TYPE, MTX_READER_ID, MTX_QUERY.',
    '',
  ],
  ['runOnReadRestart', 'boolean', 'Restart the runOnRead command if it exits.', false],
  ['runOnUnread', 'string', 'Shell command run when a client stops reading the path.', ''],
  [
    'srtPublishPassphrase',
    'srtPassphrase',
    'Passphrase SRT publishers must encrypt with (10 to 79 characters, as libsrt requires); empty for none.',
    '',
  ],
];

/** MediaMTX's older names, accepted with a warning: [old key, definition, the key that replaced it]. */
export const DEPRECATED_PATH_SETTINGS: ReadonlyArray<[key: string, definition: string, replacement: string]> = [
  ['runOnReady', 'string', 'runOnAvailable'],
  ['runOnReadyRestart', 'boolean', 'runOnAvailableRestart'],
  ['runOnNotReady', 'string', 'runOnUnavailable'],
];

const pathSettings = (withDefaults: boolean): SchemaNode => ({
  type: ['object', 'null'],
  additionalProperties: false,
  properties: Object.fromEntries([
    ...PATH_SETTINGS.map(([key, definition, description, defaultValue]) => [
      key,
      ref(definition, description, withDefaults ? defaultValue : undefined),
    ]),
    ...DEPRECATED_PATH_SETTINGS.map(([key, definition, replacement]) => [
      key,
      { ...ref(definition, `Deprecated: use ${replacement}.`), deprecated: true },
    ]),
  ]),
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
    rtmpMaxMessageSize: ref(
      'size',
      'Largest RTMP message (a video frame, say) a publisher may announce; a connection announcing more is closed. Bytes, or with a unit: 8M.',
      '8M',
    ),
    rtmpMaxUnauthenticatedPerIP: ref(
      'nonNegativeInteger',
      'RTMP connections from one IP address that have not been allowed to publish yet; more are refused. 0 means unlimited.',
      16,
    ),
    srt: ref('boolean', 'Accept SRT publishers (MPEG-TS over SRT, streamid=publish:<path>). Off by default, unlike MediaMTX: an upgrade opens no new UDP port unasked.', false),
    srtAddress: ref('address', 'UDP address of the SRT listener.', ':8890'),
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
    webTLS: ref(
      'webTLS',
      'HTTPS on webAddress: auto (certificates from an ACME CA such as Let\'s Encrypt for webTLSDomains), local (from a certification authority Polycast makes, for a LAN; its root is served at /polycast-root-ca.crt), files (webServerCert/webServerKey) or off (plain HTTP). Empty: files when webServerCert and webServerKey are set, else off.',
      '',
    ),
    webTLSDomains: ref('domains', 'Names the certificate covers (webTLS: auto or local); they must resolve to this server. local also takes IPv4 addresses.', []),
    webTLSEmail: ref('string', 'Contact e-mail of the ACME account (expiry notices); may be empty.', ''),
    webTLSACMEDirectory: ref('string', 'ACME (RFC 8555) directory URL; Let\'s Encrypt production by default.', 'https://acme-v02.api.letsencrypt.org/directory'),
    webTLSACMERootCA: ref('string', 'PEM file of root certificates trusted for the ACME directory (a private CA); empty for the system roots.', ''),
    webTLSCacheDirectory: ref(
      'string',
      'Folder for the ACME account key and certificates (kept 0600); empty: $XDG_DATA_HOME/polycast/acme, or ~/.local/share/polycast/acme.',
      '',
    ),
    webTLSHTTPAddress: ref(
      'optionalAddress',
      "Plain-HTTP listener while TLS is on: answers ACME HTTP-01 challenges and redirects everything else to HTTPS. '' for none (webTLS: files only).",
      ':80',
    ),
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
    hls: ref('boolean', 'Serve HLS on webAddress at /<path>/index.m3u8 (docs/protocols/hls.md).', true),
    hlsVariant: ref(
      'hlsVariant',
      'lowLatency (LL-HLS: parts, blocking playlist reload, delta updates) or fmp4 (plain HLS, fMP4 segments, for old players). mpegts is not supported.',
      'lowLatency',
    ),
    hlsSegmentCount: ref('positiveInteger', 'Segments a playlist lists (at least 3).', 7),
    hlsSegmentDuration: ref('duration', 'Shortest HLS segment: a segment ends at the first keyframe after this much media.', '1s'),
    hlsPartDuration: ref('duration', 'Target duration of LL-HLS parts, cut on frame boundaries.', '200ms'),
    hlsSegmentMaxSize: ref(
      'size',
      'Largest HLS segment kept in memory; a segment reaching it is closed early and frames are dropped up to the next keyframe.',
      '50M',
    ),
    hlsAllowOrigins: ref('origins', "Origins allowed to read HLS from other sites (CORS); '*' allows any.", ['*']),
    hlsAlwaysRemux: ref(
      'boolean',
      'Mux every live path into HLS even when nobody asks; when no, a path is muxed from its first HLS request until nobody asked for hlsMuxerCloseAfter.',
      false,
    ),
    hlsMuxerCloseAfter: ref('duration', 'How long an on-demand HLS muxer runs after the last request for it.', '60s'),
    hlsDirectory: ref('string', 'Must stay empty: Polycast keeps HLS segments in memory only.', ''),
    ffmpegPath: ref('string', 'FFmpeg executable used by Polycast and given to hooks; empty means find one.', ''),
    api: ref('boolean', 'Serve the control API.', false),
    apiAddress: ref('address', 'TCP address of the control API.', ':9997'),
    metrics: ref('boolean', 'Serve Prometheus metrics.', false),
    metricsAddress: ref('address', 'TCP address of the metrics endpoint.', ':9998'),
    maxConnections: ref(
      'nonNegativeInteger',
      'Clients (RTMP connections and reader sessions) served at once; 0 means unlimited.',
      0,
    ),
    runOnConnect: ref(
      'string',
      'Shell command run while a client is connected. Environment: MTX_CONN_TYPE, MTX_CONN_ID, RTMP_PORT.',
      '',
    ),
    runOnConnectRestart: ref('boolean', 'Restart the runOnConnect command if it exits.', false),
    runOnDisconnect: ref('string', 'Shell command run when a client disconnects.', ''),
    authMethod: ref('authMethod', 'How clients are authenticated: internal, http or jwt.', 'internal'),
    authInternalUsers: ref('authInternalUsers', 'Users of the internal authentication method.', DEFAULT_AUTH_INTERNAL_USERS),
    authHTTPAddress: ref('string', 'URL that authorizes each request when authMethod is http (POST, JSON body).', ''),
    authHTTPExclude: ref('permissions', 'Actions allowed without asking authHTTPAddress.', []),
    authJWTJWKS: ref('string', 'URL of the JWKS that verifies JWTs when authMethod is jwt.', ''),
    authJWTClaimKey: ref('string', 'JWT claim that holds the permissions.', 'mediamtx_permissions'),
    authJWTExclude: ref('permissions', 'Actions allowed without a JWT.', []),
    authJWTIssuer: ref('string', 'Required issuer (iss) of JWTs; empty for any.', ''),
    authJWTAudience: ref('string', 'Required audience (aud) of JWTs; empty for any.', ''),
    authMaxFailures: ref(
      'nonNegativeInteger',
      'Failed authentications from one IP within authFailureWindow after which it is refused for authBlockDuration; 0 never blocks.',
      5,
    ),
    authFailureWindow: ref('duration', 'Window in which failed authentications are counted.', '10s'),
    authBlockDuration: ref('duration', 'How long an IP that failed too often is refused.', '1m'),
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
    size: {
      description: 'A size in bytes, or with a binary unit: 65536, 64K, 8M, 1G.',
      type: ['string', 'integer', 'null'],
      minimum: 0,
      pattern: SIZE_PATTERN,
    },
    srtPassphrase: {
      description: 'Empty, or 10 to 79 characters (libsrt refuses other lengths).',
      type: ['string', 'null'],
      pattern: '^(?:|.{10,79})$',
    },
    positiveInteger: { type: ['integer', 'null'], minimum: 1 },
    nonNegativeInteger: { type: ['integer', 'null'], minimum: 0 },
    logLevel: { enum: ['error', 'warn', 'info', 'debug', null] },
    authMethod: { enum: ['internal', 'http', 'jwt', null] },
    authAction: { enum: [...AUTH_ACTIONS] },
    permission: {
      type: 'object',
      additionalProperties: false,
      required: ['action'],
      properties: {
        action: { $ref: '#/definitions/authAction', description: 'publish, read, api or metrics (playback and pprof are accepted and grant nothing).' },
        path: { $ref: '#/definitions/string', description: 'Empty for any path, ~regex, or a path name. Not used by api and metrics.' },
      },
    },
    permissions: { type: ['array', 'null'], items: { $ref: '#/definitions/permission' } },
    authInternalUsers: { type: ['array', 'null'], items: { $ref: '#/definitions/authInternalUser' } },
    authInternalUser: {
      type: 'object',
      additionalProperties: false,
      required: ['user'],
      properties: {
        user: { $ref: '#/definitions/credential', description: "User name; 'any' matches anyone, including anonymous clients." },
        pass: { $ref: '#/definitions/credential', description: 'Password: plain, sha256:<base64 of the SHA-256> or argon2:<PHC string>.' },
        ips: { $ref: '#/definitions/ips', description: 'Addresses or CIDR networks the user may connect from; empty for any.' },
        permissions: { $ref: '#/definitions/permissions', description: 'What the user may do.' },
      },
    },
    credential: { type: ['string', 'null'] },
    ips: { type: ['array', 'null'], items: { $ref: '#/definitions/ip' } },
    ip: { description: 'An IP address or a CIDR network such as 192.168.0.0/16.', type: 'string' },
    webSocketProtocol: { enum: ['rtwebsocket', 'standard', null] },
    hlsVariant: { enum: ['lowLatency', 'fmp4', 'mpegts', null] },
    webTLS: { enum: ['auto', 'local', 'files', 'off', '', null] },
    domains: {
      description: 'A domain name, or a list of them.',
      type: ['string', 'array', 'null'],
      pattern: DOMAIN_PATTERN,
      items: { $ref: '#/definitions/domain' },
    },
    domain: { description: 'A DNS name such as media.example.com.', type: 'string', pattern: DOMAIN_PATTERN },
    source: {
      description: 'publisher, or a URL Polycast pulls the stream from: rtmp://, rtmps://, ws://…/ws/nal, wss://…/ws/nal, polycast://, polycasts://, moqt://.',
      type: ['string', 'null'],
      pattern: SOURCE_PATTERN,
    },
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

/** The keys every path accepts, in schema order (deprecated ones aside). */
export const PATH_SETTING_KEYS: readonly string[] = PATH_SETTINGS.map(([key]) => key);

/** Current and deprecated path keys: what a file or the environment may set. */
export const ALL_PATH_SETTING_KEYS: readonly string[] = [...PATH_SETTING_KEYS, ...DEPRECATED_PATH_SETTINGS.map(([key]) => key)];

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
