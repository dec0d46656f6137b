/**
 * From validated settings to a `ResolvedConfig`: text turned into numbers
 * and addresses, paths merged over pathDefaults, plus the checks a schema
 * cannot express. It tolerates values the schema rejected (they are already
 * reported) so that one load reports every problem.
 */
import { parseAddress } from './address.js';
import { parseDuration } from './duration.js';
import { showValue, type Issue } from './issue.js';
import { checkConfigPathName } from './paths.js';
import {
  CONFIG_SCHEMA,
  type Address,
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

function pathConf(value: unknown, base: PathConf): PathConf {
  const s = isMapping(value) ? value : {};
  return {
    source: s['source'] === undefined ? base.source : (s['source'] as PathSource),
    maxReaders: typeof s['maxReaders'] === 'number' ? s['maxReaders'] : base.maxReaders,
    runOnInit: typeof s['runOnInit'] === 'string' ? s['runOnInit'] : base.runOnInit,
    runOnInitRestart: s['runOnInitRestart'] === undefined ? base.runOnInitRestart : toBoolean(s['runOnInitRestart']),
    overridePublisher:
      s['overridePublisher'] === undefined ? base.overridePublisher : toBoolean(s['overridePublisher']),
  };
}

const TCP_LISTENERS = [
  ['rtmpAddress', 'rtmp'],
  ['webAddress', undefined],
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

  const addresses = new Map<string, Address>();
  const address = (key: string) => {
    const parsed = typeof raw[key] === 'string' ? parseAddress(raw[key]) : undefined;
    if (parsed === undefined || 'error' in parsed) return UNRESOLVED_ADDRESS;
    addresses.set(key, parsed.address);
    return parsed.address;
  };

  const origins = raw['webAllowOrigins'];
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

  const config: ResolvedConfig = {
    file,
    logLevel: raw['logLevel'] as LogLevel,
    readTimeout: duration('readTimeout'),
    writeTimeout: duration('writeTimeout'),
    writeQueueSize: integer('writeQueueSize'),
    rtmp: toBoolean(raw['rtmp']),
    rtmpAddress: address('rtmpAddress'),
    webAddress: address('webAddress'),
    webAllowOrigins: typeof origins === 'string' ? [origins] : Array.isArray(origins) ? origins.map(String) : [],
    webServerCert: text('webServerCert'),
    webServerKey: text('webServerKey'),
    webTransport: toBoolean(raw['webTransport']),
    webTransportAddress: text('webTransportAddress') === '' ? undefined : address('webTransportAddress'),
    webSocketProtocol: raw['webSocketProtocol'] as WebSocketProtocol,
    webSocketSegmentSize: integer('webSocketSegmentSize'),
    ffmpegPath: text('ffmpegPath'),
    api: toBoolean(raw['api']),
    apiAddress: address('apiAddress'),
    metrics: toBoolean(raw['metrics']),
    metricsAddress: address('metricsAddress'),
    pathDefaults,
    paths,
  };

  if ((config.webServerCert === '') !== (config.webServerKey === '')) {
    const [set, unset] = config.webServerCert === '' ? ['webServerKey', 'webServerCert'] : ['webServerCert', 'webServerKey'];
    issues.push({ path: [set], at: 'value', message: `is set but ${unset} is not; set both or neither` });
  }

  // Two listeners on one port fail at startup with EADDRINUSE; saying which keys collide is kinder.
  const bound: Array<[string, Address]> = [];
  for (const [key, switchKey] of TCP_LISTENERS) {
    const listening = addresses.get(key);
    if (!listening || (switchKey !== undefined && !config[switchKey]) || listening.port === 0) continue;
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
