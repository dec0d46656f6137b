/** Schema validation with ajv, its errors rephrased for people editing YAML. */
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { ADDRESS_EXAMPLES, parseAddress } from './address.js';
import { showValue, type Issue, type Segment } from './issue.js';
import { sourceValueMessage } from './source-checks.js';
import { didYouMean } from './suggest.js';
import { ALL_PATH_SETTING_KEYS, CONFIG_SCHEMA, PATH_SETTING_KEYS, childSchema, definitionName, knownKeys, type SchemaNode } from './schema.js';

let compiled: ValidateFunction | undefined;

function validator(): ValidateFunction {
  compiled ??= new Ajv({ allErrors: true, useDefaults: true, allowUnionTypes: true, strict: true }).compile(
    CONFIG_SCHEMA,
  );
  return compiled;
}

const choices = (definition: string) =>
  (CONFIG_SCHEMA.definitions![definition]!.enum ?? []).filter((choice) => choice !== null).join(', ');

function addressMessage(value: unknown): string {
  if (typeof value !== 'string') return `${showValue(value)} is not an address (${ADDRESS_EXAMPLES})`;
  const parsed = parseAddress(value);
  const reason = 'error' in parsed ? `: ${parsed.error}` : '';
  return `${showValue(value)} is not an address${reason} (${ADDRESS_EXAMPLES})`;
}

const originMessage = (value: unknown) =>
  typeof value === 'string'
    ? `${showValue(value)} is not an origin (expected '*' or scheme://host[:port] with no path, e.g. https://example.com)`
    : `${showValue(value)} is not an origin`;

const domainMessage = (value: unknown) =>
  `${showValue(value)} is not a domain name an ACME CA can validate over HTTP-01 (letters, digits, hyphens and dots; no wildcard, no port)`;

const pathSettingsMessage = () => 'must be a mapping of path settings, or empty';

/** What is wrong with a value, by the definition its setting refers to. */
const VALUE_MESSAGES: Readonly<Record<string, (value: unknown) => string>> = {
  boolean: (value) => `${showValue(value)} is not yes or no`,
  string: (value) => `${showValue(value)} is not a string (quote it)`,
  duration: (value) => `${showValue(value)} is not a duration (examples: 500ms, 10s, 1m)`,
  address: addressMessage,
  optionalAddress: addressMessage,
  size: (value) => `${showValue(value)} is not a size (examples: 65536, 64K, 8M)`,
  positiveInteger: () => 'must be an integer ≥ 1',
  nonNegativeInteger: () => 'must be an integer ≥ 0',
  logLevel: (value) => `${showValue(value)} is not a log level (one of: ${choices('logLevel')})`,
  webSocketProtocol: (value) => `${showValue(value)} is not a WebSocket protocol (one of: ${choices('webSocketProtocol')})`,
  source: sourceValueMessage,
  origins: (value) =>
    typeof value === 'string' || value === null ? originMessage(value) : "must be '*', an origin, or a list of origins",
  origin: originMessage,
  webTLS: (value) => `${showValue(value)} is not a TLS mode (one of: auto, local, files, off)`,
  domains: (value) => (typeof value === 'string' || value === null ? domainMessage(value) : 'must be a domain name or a list of them'),
  domain: domainMessage,
  authMethod: (value) => `${showValue(value)} is not an authentication method (one of: ${choices('authMethod')})`,
  authAction: (value) => `${showValue(value)} is not an action (one of: ${choices('authAction')})`,
  permission: () => 'must be a mapping with action and, for publish and read, an optional path',
  permissions: () => 'must be a list of permissions ({ action, path })',
  authInternalUsers: () => 'must be a list of users ({ user, pass, ips, permissions })',
  authInternalUser: () => 'must be a mapping with user, pass, ips and permissions',
  credential: (value) => `${showValue(value)} is not a string (quote it)`,
  // The value is a secret: the message does not repeat it.
  srtPassphrase: (value) => (typeof value === 'string' ? `is ${value.length} characters long: libsrt takes 10 to 79` : 'is not a string (quote it)'),
  ips: () => 'must be a list of IP addresses or CIDR networks',
  ip: (value) => `${showValue(value)} is not an IP address or network (quote it)`,
  pathSettings: pathSettingsMessage,
  pathDefaults: pathSettingsMessage,
  pathMap: () => 'must be a mapping from path names to path settings',
  root: () => 'the configuration must be a mapping of settings',
};

function schemaAt(path: readonly Segment[]): SchemaNode {
  let node = CONFIG_SCHEMA;
  for (const segment of path) node = childSchema(node, segment) ?? node;
  return node;
}

function valueAt(data: unknown, path: readonly Segment[]): unknown {
  let value = data;
  for (const segment of path) value = (value as Record<string | number, unknown> | undefined)?.[segment];
  return value;
}

/** JSON Pointer to segments; list indices become numbers so they print as `[1]`. */
function segmentsOf(pointer: string, data: unknown): Segment[] {
  if (pointer === '') return [];
  const segments: Segment[] = [];
  for (const escaped of pointer.slice(1).split('/')) {
    const segment = escaped.replace(/~1/g, '/').replace(/~0/g, '~');
    segments.push(Array.isArray(valueAt(data, segments)) ? Number(segment) : segment);
  }
  return segments;
}

function unknownKeyMessage(key: string, container: SchemaNode): string {
  const known = knownKeys(container);
  const level = definitionName(container);
  if (level === 'root' && ALL_PATH_SETTING_KEYS.includes(key)) {
    return 'unknown key (path settings go under pathDefaults: or under a path in paths:)';
  }
  const inPath = level === 'pathSettings' || level === 'pathDefaults';
  if (inPath && knownKeys(CONFIG_SCHEMA).includes(key)) {
    return 'unknown key (a global setting: put it at the top level of the file)';
  }
  const guess = didYouMean(key, known);
  if (guess) return `unknown key (did you mean '${guess}'?)`;
  if (level === 'root') return 'unknown key';
  return inPath ? `unknown key (path settings are: ${PATH_SETTING_KEYS.join(', ')})` : `unknown key (expected: ${known.join(', ')})`;
}

/**
 * Validates `raw` in place: ajv fills in the defaults of top-level settings
 * and of pathDefaults (paths inherit from pathDefaults, so theirs are left unset).
 * Path names are not judged here but by the resolver, which has better words.
 */
export function validateRaw(raw: Record<string, unknown>): Issue[] {
  const validate = validator();
  if (validate(raw)) return [];
  const errors: ErrorObject[] = validate.errors ?? [];
  const issues: Issue[] = [];
  const valueErrors = new Map<string, Segment[]>();
  for (const error of errors) {
    if (error.keyword === 'propertyNames' || error.propertyName !== undefined) continue;
    const path = segmentsOf(error.instancePath, raw);
    if (error.keyword === 'additionalProperties') {
      const key = (error.params as { additionalProperty: string }).additionalProperty;
      issues.push({ path: [...path, key], at: 'key', message: unknownKeyMessage(key, schemaAt(path)) });
    } else if (error.keyword === 'required') {
      const key = (error.params as { missingProperty: string }).missingProperty;
      issues.push({ path, at: 'value', message: `'${key}' is missing` });
    } else {
      // One message per value, however many of its keywords failed.
      valueErrors.set(error.instancePath, path);
    }
  }
  for (const path of valueErrors.values()) {
    const describe = VALUE_MESSAGES[definitionName(schemaAt(path))] ?? (() => 'is not valid');
    issues.push({ path, at: 'value', message: describe(valueAt(raw, path)) });
  }
  return issues;
}
