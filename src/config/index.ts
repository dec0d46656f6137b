/** The configuration subsystem's public surface. */
export { DEFAULT_CONFIG_FILE, configSource, loadConfig, parseConfig, resolveSettings, type ConfigSource } from './load.js';
export { ConfigError, formatProblem, type ConfigProblem, type ProblemOrigin } from './errors.js';
export { ENV_PREFIX, type Env } from './env.js';
export { matchPath, validatePathName, type PathMatch } from './paths.js';
export { parseAddress } from './address.js';
export { parseDuration } from './duration.js';
export {
  CONFIG_SCHEMA,
  type Address,
  type AuthAction,
  type AuthInternalUser,
  type AuthMethod,
  type AuthPermission,
  type LogLevel,
  type PathConf,
  type PathEntry,
  type PathSource,
  type ResolvedConfig,
  type WebSocketProtocol,
} from './schema.js';
