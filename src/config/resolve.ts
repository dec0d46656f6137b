/**
 * From validated settings to a `ResolvedConfig`: text turned into numbers
 * and addresses, paths merged over pathDefaults, plus the checks a schema
 * cannot express. It tolerates values the schema rejected (they are already
 * reported) so that one load reports every problem.
 */
import { isIP } from 'node:net';
import { parseAddress } from './address.js';
import { checkCredential } from './credential.js';
import { parseDuration } from './duration.js';
import { showValue, type Issue, type Segment } from './issue.js';
import { parseSize } from './size.js';
import { checkConfigPathName } from './paths.js';
import { sourceIssues } from './source-checks.js';
import {
  CONFIG_SCHEMA,
  DEPRECATED_PATH_SETTINGS,
  type Address,
  type AuthAction,
  type AuthInternalUser,
  type AuthMethod,
  type AuthPermission,
  type HlsVariant,
  type WebTLSMode,
  type LogLevel,
  type PathConf,
  type PathEntry,
  type PathSource,
  type ResolvedConfig,
  type WebSocketProtocol,
} from './schema.js';

type Settings = Readonly<Record<string, unknown>>;

const isMapping = (value: unknown): value is Settings =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

const UNRESOLVED_ADDRESS: Address = { host: '', port: 0 };

const SCHEMA_PATH_DEFAULTS = Object.fromEntries(
  Object.entries(CONFIG_SCHEMA.definitions!['pathDefaults']!.properties!).map(([key, node]) => [key, node.default]),
) as unknown as PathConf;

const toBoolean = (value: unknown) => value === true || (typeof value === 'string' && value.toLowerCase() === 'yes');

/** Milliseconds of a duration setting, or undefined when it is not one (already reported by validation). */
function durationMs(value: unknown): number | undefined {
  const ms = typeof value === 'string' ? parseDuration(value) : undefined;
  return ms === undefined ? undefined : Math.round(ms);
}

/**
 * MediaMTX's deprecated names (runOnReady...) fill in their replacement when
 * that is not written, as MediaMTX does; one warning each. Runs before
 * validation, which would otherwise fill the replacement with its default.
 */
export function migrateDeprecated(raw: Record<string, unknown>): Issue[] {
  const warnings: Issue[] = [];
  const migrate = (settings: unknown, at: readonly Segment[]) => {
    if (!isMapping(settings)) return;
    const s = settings as Record<string, unknown>;
    for (const [old, , replacement] of DEPRECATED_PATH_SETTINGS) {
      if (s[old] === undefined) continue;
      warnings.push({ path: [...at, old], at: 'key', message: `deprecated: use '${replacement}' instead` });
      if (s[replacement] === undefined) s[replacement] = s[old];
    }
  };
  migrate(raw['pathDefaults'], ['pathDefaults']);
  const paths = raw['paths'];
  if (isMapping(paths)) for (const [name, settings] of Object.entries(paths)) migrate(settings, ['paths', name]);
  return warnings;
}

/** A path's settings over `base`. */
function pathConf(value: unknown, base: PathConf): PathConf {
  const s: Settings = isMapping(value) ? value : {};
  const text = (key: keyof PathConf) => (typeof s[key] === 'string' ? (s[key] as string) : (base[key] as string));
  const flag = (key: keyof PathConf) => (s[key] === undefined ? (base[key] as boolean) : toBoolean(s[key]));
  const ms = (key: keyof PathConf) => durationMs(s[key]) ?? (base[key] as number);
  return {
    source: s['source'] === undefined ? base.source : (s['source'] as PathSource),
    sourceOnDemand: flag('sourceOnDemand'),
    sourceOnDemandStartTimeout: ms('sourceOnDemandStartTimeout'),
    sourceOnDemandCloseAfter: ms('sourceOnDemandCloseAfter'),
    maxReaders: typeof s['maxReaders'] === 'number' ? s['maxReaders'] : base.maxReaders,
    runOnInit: text('runOnInit'),
    runOnInitRestart: flag('runOnInitRestart'),
    overridePublisher: flag('overridePublisher'),
    runOnDemand: text('runOnDemand'),
    runOnDemandRestart: flag('runOnDemandRestart'),
    runOnDemandStartTimeout: ms('runOnDemandStartTimeout'),
    runOnDemandCloseAfter: ms('runOnDemandCloseAfter'),
    runOnUnDemand: text('runOnUnDemand'),
    runOnAvailable: text('runOnAvailable'),
    runOnAvailableRestart: flag('runOnAvailableRestart'),
    runOnUnavailable: text('runOnUnavailable'),
    runOnOnline: text('runOnOnline'),
    runOnOnlineRestart: flag('runOnOnlineRestart'),
    runOnOffline: text('runOnOffline'),
    runOnRead: text('runOnRead'),
    runOnReadRestart: flag('runOnReadRestart'),
    runOnUnread: text('runOnUnread'),
    srtPublishPassphrase: text('srtPublishPassphrase'),
  };
}

const items = (value: unknown): unknown[] => (Array.isArray(value) ? value : []);

function permissions(value: unknown, at: readonly Segment[], issues: Issue[]): AuthPermission[] {
  return items(value).map((item, index) => {
    const p = isMapping(item) ? item : {};
    const path = typeof p['path'] === 'string' ? p['path'] : '';
    if (path.startsWith('~')) {
      try {
        new RegExp(path.slice(1));
      } catch (err) {
        issues.push({ path: [...at, index, 'path'], at: 'value', message: `invalid regular expression: ${(err as Error).message}` });
      }
    }
    return { action: p['action'] as AuthAction, path };
  });
}

/** Whether `text` is an IP address or an IP/prefix network. */
function ipNetworkError(text: string): string | undefined {
  const [address = '', prefix, extra] = text.split('/');
  const family = isIP(address);
  if (family === 0 || extra !== undefined) return `${showValue(text)} is not an IP address or network (e.g. 192.168.1.0/24 or ::1)`;
  if (prefix === undefined) return undefined;
  const bits = /^\d{1,3}$/.test(prefix) ? Number(prefix) : NaN;
  const max = family === 4 ? 32 : 128;
  return bits >= 0 && bits <= max ? undefined : `${showValue(text)} has an invalid prefix length (0–${max})`;
}

function internalUsers(value: unknown, issues: Issue[]): AuthInternalUser[] {
  return items(value).map((item, index) => {
    const u = isMapping(item) ? item : {};
    const at: Segment[] = ['authInternalUsers', index];
    const user = typeof u['user'] === 'string' ? u['user'] : '';
    const pass = typeof u['pass'] === 'string' ? u['pass'] : '';
    for (const [key, credential] of [['user', user], ['pass', pass]] as const) {
      const problem = checkCredential(credential);
      if (problem !== undefined) issues.push({ path: [...at, key], at: 'value', message: problem });
    }
    const ips = items(u['ips']).filter((ip): ip is string => typeof ip === 'string');
    ips.forEach((ip, i) => {
      const problem = ipNetworkError(ip);
      if (problem !== undefined) issues.push({ path: [...at, 'ips', i], at: 'value', message: problem });
    });
    return { user, pass, ips, permissions: permissions(u['permissions'], [...at, 'permissions'], issues) };
  });
}

function httpUrlError(text: string): string | undefined {
  try {
    const url = new URL(text);
    return url.protocol === 'http:' || url.protocol === 'https:' ? undefined : `${showValue(text)} is not an http:// or https:// URL`;
  } catch {
    return `${showValue(text)} is not a URL`;
  }
}

/** A message must hold a video frame; RTMP's 3-byte length field cannot say more than 16 MiB - 1. */
const RTMP_MIN_MESSAGE_SIZE = 64 * 1024;
const RTMP_MAX_MESSAGE_SIZE = 0xffffff;

/** A segment must hold at least a keyframe; below this every segment would be cut short. */
const HLS_MIN_SEGMENT_SIZE = 64 * 1024;
/** Fewer segments leave a player no room between the live edge and the start of the playlist. */
const HLS_MIN_SEGMENT_COUNT = 3;

/** What the HLS settings cannot be, beyond their types. */
function hlsIssues(config: ResolvedConfig): Issue[] {
  const issues: Issue[] = [];
  if (config.hlsVariant === 'mpegts') {
    issues.push({ path: ['hlsVariant'], at: 'value', message: "'mpegts' is not supported by Polycast: use lowLatency or fmp4 (fMP4 segments play in every HLS player since iOS 10)" });
  }
  if (config.hlsDirectory !== '') {
    issues.push({ path: ['hlsDirectory'], at: 'value', message: 'is not supported: Polycast keeps HLS segments in memory only; leave it empty' });
  }
  if (config.hlsSegmentCount > 0 && config.hlsSegmentCount < HLS_MIN_SEGMENT_COUNT) {
    issues.push({ path: ['hlsSegmentCount'], at: 'value', message: `must be at least ${HLS_MIN_SEGMENT_COUNT}` });
  }
  if (config.hlsPartDuration > 0 && config.hlsPartDuration > config.hlsSegmentDuration) {
    issues.push({ path: ['hlsPartDuration'], at: 'value', message: `is longer than hlsSegmentDuration (${config.hlsSegmentDuration}ms)` });
  }
  return issues;
}

/** An empty `webTLS` keeps what configurations without it always meant: HTTPS when the files are set. */
function webTLSMode(value: string, cert: string, key: string): WebTLSMode {
  if (value === 'auto' || value === 'local' || value === 'files' || value === 'off') return value;
  return cert !== '' && key !== '' ? 'files' : 'off';
}

/** What the TLS settings cannot be, beyond their types. */
function tlsIssues(config: ResolvedConfig): Issue[] {
  const issues: Issue[] = [];
  if (config.webTLS === 'files' && (config.webServerCert === '' || config.webServerKey === '')) {
    issues.push({ path: ['webTLS'], at: 'value', message: "is 'files' but webServerCert and webServerKey are not both set" });
  }
  if ((config.webTLS === 'auto' || config.webTLS === 'local') && config.webTLSDomains.length === 0) {
    issues.push({ path: ['webTLS'], at: 'value', message: `is '${config.webTLS}' but webTLSDomains is empty: list the names this server is reached by` });
  }
  if (config.webTLS === 'auto') {
    const problem = httpUrlError(config.webTLSACMEDirectory);
    if (problem !== undefined) issues.push({ path: ['webTLSACMEDirectory'], at: 'value', message: problem });
  }
  return issues;
}

const TCP_LISTENERS = [
  ['rtmpAddress', 'rtmp'],
  ['webAddress', undefined],
  ['webTLSHTTPAddress', undefined],
  ['apiAddress', 'api'],
  ['metricsAddress', 'metrics'],
] as const;

/** `written`: the top-level keys set by the file or the environment, as opposed to defaults. */
export function resolveConfig(
  raw: Settings,
  file: string,
  written: ReadonlySet<string>,
): { config: ResolvedConfig; issues: Issue[] } {
  const issues: Issue[] = [];

  const text = (key: string) => (typeof raw[key] === 'string' ? raw[key] : '');
  const integer = (key: string) => (typeof raw[key] === 'number' ? raw[key] : 0);

  const duration = (key: string) => {
    const ms = typeof raw[key] === 'string' ? parseDuration(raw[key]) : undefined;
    if (ms === undefined) return 0;
    const rounded = Math.round(ms);
    if (rounded < 1) issues.push({ path: [key], at: 'value', message: `${showValue(raw[key])} is too short (at least 1ms)` });
    return rounded;
  };

  const size = (key: string, min: number, max: number) => {
    const bytes = parseSize(raw[key]);
    if (bytes === undefined) return 0;
    if (bytes < min || bytes > max) {
      const range = max === Number.MAX_SAFE_INTEGER ? `below the minimum of ${min} bytes` : `outside ${min}..${max} bytes`;
      issues.push({ path: [key], at: 'value', message: `${showValue(raw[key])} is ${range}` });
    }
    return bytes;
  };

  const addresses = new Map<string, Address>();
  const address = (key: string) => {
    const parsed = typeof raw[key] === 'string' ? parseAddress(raw[key]) : undefined;
    if (parsed === undefined || 'error' in parsed) return UNRESOLVED_ADDRESS;
    addresses.set(key, parsed.address);
    return parsed.address;
  };

  const originList = (key: string) => {
    const value = raw[key];
    return typeof value === 'string' ? [value] : Array.isArray(value) ? value.map(String) : [];
  };
  const pathDefaults = pathConf(raw['pathDefaults'], SCHEMA_PATH_DEFAULTS);
  const paths: PathEntry[] = [];
  for (const [name, settings] of Object.entries(isMapping(raw['paths']) ? raw['paths'] : {})) {
    const checked = checkConfigPathName(name);
    if ('error' in checked) {
      issues.push({ path: ['paths', name], at: 'key', message: checked.error });
      continue;
    }
    const conf = pathConf(settings, pathDefaults);
    paths.push(checked.regex ? { name, regex: checked.regex, conf } : { name, conf });
  }
  issues.push(...sourceIssues(raw['pathDefaults'], raw['paths'], paths));

  const config: ResolvedConfig = {
    file,
    logLevel: raw['logLevel'] as LogLevel,
    readTimeout: duration('readTimeout'),
    writeTimeout: duration('writeTimeout'),
    writeQueueSize: integer('writeQueueSize'),
    rtmp: toBoolean(raw['rtmp']),
    rtmpAddress: address('rtmpAddress'),
    rtmpMaxMessageSize: size('rtmpMaxMessageSize', RTMP_MIN_MESSAGE_SIZE, RTMP_MAX_MESSAGE_SIZE),
    rtmpMaxUnauthenticatedPerIP: integer('rtmpMaxUnauthenticatedPerIP'),
    srt: toBoolean(raw['srt']),
    srtAddress: address('srtAddress'),
    webAddress: address('webAddress'),
    webAllowOrigins: originList('webAllowOrigins'),
    webServerCert: text('webServerCert'),
    webServerKey: text('webServerKey'),
    webTLS: webTLSMode(text('webTLS'), text('webServerCert'), text('webServerKey')),
    webTLSDomains: originList('webTLSDomains').map((d) => d.toLowerCase()),
    webTLSEmail: text('webTLSEmail'),
    webTLSACMEDirectory: text('webTLSACMEDirectory'),
    webTLSACMERootCA: text('webTLSACMERootCA'),
    webTLSCacheDirectory: text('webTLSCacheDirectory'),
    webTLSHTTPAddress: text('webTLSHTTPAddress') === '' ? undefined : address('webTLSHTTPAddress'),
    webTransport: toBoolean(raw['webTransport']),
    webTransportAddress: text('webTransportAddress') === '' ? undefined : address('webTransportAddress'),
    webSocketProtocol: raw['webSocketProtocol'] as WebSocketProtocol,
    webSocketSegmentSize: integer('webSocketSegmentSize'),
    hls: toBoolean(raw['hls']),
    hlsVariant: raw['hlsVariant'] as HlsVariant,
    hlsSegmentCount: integer('hlsSegmentCount'),
    hlsSegmentDuration: duration('hlsSegmentDuration'),
    hlsPartDuration: duration('hlsPartDuration'),
    hlsSegmentMaxSize: size('hlsSegmentMaxSize', HLS_MIN_SEGMENT_SIZE, Number.MAX_SAFE_INTEGER),
    hlsAllowOrigins: originList('hlsAllowOrigins'),
    hlsAlwaysRemux: toBoolean(raw['hlsAlwaysRemux']),
    hlsMuxerCloseAfter: duration('hlsMuxerCloseAfter'),
    hlsDirectory: text('hlsDirectory'),
    ffmpegPath: text('ffmpegPath'),
    api: toBoolean(raw['api']),
    apiAddress: address('apiAddress'),
    metrics: toBoolean(raw['metrics']),
    metricsAddress: address('metricsAddress'),
    maxConnections: integer('maxConnections'),
    runOnConnect: text('runOnConnect'),
    runOnConnectRestart: toBoolean(raw['runOnConnectRestart']),
    runOnDisconnect: text('runOnDisconnect'),
    authMethod: raw['authMethod'] as AuthMethod,
    authInternalUsers: internalUsers(raw['authInternalUsers'], issues),
    authHTTPAddress: text('authHTTPAddress'),
    authHTTPExclude: permissions(raw['authHTTPExclude'], ['authHTTPExclude'], issues),
    authJWTJWKS: text('authJWTJWKS'),
    authJWTClaimKey: text('authJWTClaimKey'),
    authJWTExclude: permissions(raw['authJWTExclude'], ['authJWTExclude'], issues),
    authJWTIssuer: text('authJWTIssuer'),
    authJWTAudience: text('authJWTAudience'),
    authMaxFailures: integer('authMaxFailures'),
    authFailureWindow: duration('authFailureWindow'),
    authBlockDuration: duration('authBlockDuration'),
    pathDefaults,
    paths,
  };

  if ((config.webServerCert === '') !== (config.webServerKey === '')) {
    const [set, unset] = config.webServerCert === '' ? ['webServerKey', 'webServerCert'] : ['webServerCert', 'webServerKey'];
    issues.push({ path: [set], at: 'value', message: `is set but ${unset} is not; set both or neither` });
  }

  issues.push(...tlsIssues(config));

  for (const [method, key] of [['http', 'authHTTPAddress'], ['jwt', 'authJWTJWKS']] as const) {
    const url = config[key];
    if (url !== '') {
      const problem = httpUrlError(url);
      if (problem !== undefined) issues.push({ path: [key], at: 'value', message: problem });
    } else if (config.authMethod === method) {
      issues.push({ path: ['authMethod'], at: 'value', message: `is '${method}' but ${key} is not set` });
    }
  }
  issues.push(...hlsIssues(config));
  if (config.authJWTClaimKey === '') issues.push({ path: ['authJWTClaimKey'], at: 'value', message: 'must not be empty' });

  // Two listeners on one port fail at startup with EADDRINUSE; saying which keys collide is kinder.
  const bound: Array<[string, Address]> = [];
  for (const [key, switchKey] of TCP_LISTENERS) {
    const listening = addresses.get(key);
    if (!listening || (switchKey !== undefined && !config[switchKey]) || listening.port === 0) continue;
    if (key === 'webTLSHTTPAddress' && config.webTLS === 'off') continue;
    const clash = bound.find(
      ([, other]) => other.port === listening.port && (other.host === listening.host || other.host === '' || listening.host === ''),
    );
    if (!clash) {
      bound.push([key, listening]);
      continue;
    }
    // Blame the setting the user wrote, not the one left to its default.
    const [blamed, other] = written.has(key) || !written.has(clash[0]) ? [key, clash[0]] : [clash[0], key];
    const otherText = written.has(other) ? other : `${other} (default ${showValue(raw[other])})`;
    issues.push({ path: [blamed], at: 'value', message: `port ${listening.port} is already used by ${otherText}` });
  }

  return { config, issues };
}
