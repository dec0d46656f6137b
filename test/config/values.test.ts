import { describe, expect, it } from 'vitest';
import { ADDRESS_PATTERN, parseAddress } from '../../src/config/address.js';
import { DURATION_PATTERN, parseDuration } from '../../src/config/duration.js';
import { parseConfig } from '../../src/config/load.js';
import { ORIGIN_PATTERN } from '../../src/config/schema.js';
import { problemsOf, yaml } from './helpers.js';

describe('durations', () => {
  it.each([
    ['500ms', 500],
    ['10s', 10_000],
    ['1m', 60_000],
    ['1m30s', 90_000],
    ['1h', 3_600_000],
    ['1h2m3s4ms', 3_723_004],
    ['1.5s', 1_500],
    ['.5s', 500],
    ['2500us', 2.5],
    ['2500µs', 2.5],
    ['3000000ns', 3],
    ['0', 0],
  ])('reads %s as %d ms', (text, ms) => {
    expect(parseDuration(text)).toBeCloseTo(ms, 9);
  });

  it.each(['', '10', '10 seconds', '10sec', 's', '-1s', '1s ', '1d', '1.2.3s', '0s0'])('rejects %j', (text) => {
    expect(parseDuration(text)).toBeUndefined();
  });

  it('agrees with the pattern editors get', () => {
    const pattern = new RegExp(DURATION_PATTERN);
    for (const text of ['500ms', '1m30s', '.5s', '0', '10', '10 seconds', '1d', '1.5h', '0s0', '']) {
      expect(pattern.test(text), text).toBe(parseDuration(text) !== undefined);
    }
  });

  it('resolves to whole milliseconds', () => {
    const config = parseConfig(yaml('readTimeout: 1m30s', 'writeTimeout: 1500us'), 'x', {});
    expect(config.readTimeout).toBe(90_000);
    expect(config.writeTimeout).toBe(2);
  });

  it('refuses a number without a unit', () => {
    expect(problemsOf('readTimeout: 10\n')).toEqual([
      'mediamtx.yml:1:14: readTimeout: 10 is not a duration (examples: 500ms, 10s, 1m)',
    ]);
  });
});

describe('addresses', () => {
  it.each([
    [':1935', '', 1935],
    [':0', '', 0],
    [':65535', '', 65535],
    ['127.0.0.1:1935', '127.0.0.1', 1935],
    ['0.0.0.0:80', '0.0.0.0', 80],
    ['localhost:8080', 'localhost', 8080],
    ['media-1.example.com:443', 'media-1.example.com', 443],
    ['[::1]:1935', '::1', 1935],
    ['[::]:1935', '::', 1935],
    ['[fe80::1%eth0]:1935', 'fe80::1%eth0', 1935],
    ['[localhost]:1935', 'localhost', 1935],
  ])('reads %s', (text, host, port) => {
    expect(parseAddress(text)).toEqual({ address: { host, port } });
  });

  it.each([
    ['', 'it is empty'],
    ['1935', "missing ':port'"],
    ['localhost', "missing ':port'"],
    ['localhost:', 'the port is missing'],
    [':http', "port 'http' is not a number"],
    [':-1', "port '-1' is not a number"],
    [':65536', 'port 65536 is out of range (0–65535)'],
    [':01935', "port '01935' has a leading zero"],
    ['::1:1935', 'an IPv6 host must be in brackets, e.g. [::1]:1935'],
    ['[::1]1935', "missing ':port' after ']'"],
    ['[::1:1935', "'[' is never closed"],
    ['[]:1935', "host '' is not a valid host"],
    ['my host:1935', "host 'my host' is not a valid host"],
    ['rtmp://localhost:1935', 'it is a URL; write only [host]:port'],
  ])('rejects %j: %s', (text, error) => {
    expect(parseAddress(text)).toEqual({ error });
  });

  it('agrees with the pattern editors get', () => {
    const pattern = new RegExp(ADDRESS_PATTERN);
    const samples = [':1935', ':0', ':65535', ':65536', ':99999', ':01', '[::1]:1', '[]:1', '::1:1', 'a b:1', 'h:', 'x:6553', 'x:59999', 'rtmp://h:1'];
    for (const text of samples) expect(pattern.test(text), text).toBe('address' in parseAddress(text));
  });

  it('reports a bad address with the reason', () => {
    expect(problemsOf(yaml('rtmp: yes', 'apiAddress: localhost:70000'))).toEqual([
      "mediamtx.yml:2:13: apiAddress: 'localhost:70000' is not an address: port 70000 is out of range (0–65535) (expected [host]:port, e.g. :1935 or 127.0.0.1:1935)",
    ]);
    expect(problemsOf('metricsAddress: 9998\n')).toEqual([
      'mediamtx.yml:1:17: metricsAddress: 9998 is not an address (expected [host]:port, e.g. :1935 or 127.0.0.1:1935)',
    ]);
  });

  it('lets webTransportAddress be empty (webAddress’s port) or an address', () => {
    expect(parseConfig('webTransportAddress: ""\n', 'x', {}).webTransportAddress).toBeUndefined();
    expect(parseConfig('webTransportAddress: 127.0.0.1:0\n', 'x', {}).webTransportAddress).toEqual({ host: '127.0.0.1', port: 0 });
    expect(problemsOf('webTransportAddress: udp\n')[0]).toMatch(/^mediamtx\.yml:1:22: webTransportAddress: 'udp' is not an address/);
  });
});

describe('booleans', () => {
  it.each([
    ['yes', true],
    ['no', false],
    ['Yes', true],
    ['NO', false],
    ['true', true],
    ['false', false],
    ['True', true],
    ['FALSE', false],
    ['"yes"', true],
  ])('reads %s', (text, value) => {
    const config = parseConfig(yaml(`rtmp: ${text}`, `api: ${text}`, 'pathDefaults:', `  overridePublisher: ${text}`), 'x', {});
    expect([config.rtmp, config.api, config.pathDefaults.overridePublisher]).toEqual([value, value, value]);
  });

  it.each(['on', 'y', '1', 'yes please'])('rejects %s', (text) => {
    expect(problemsOf(`metrics: ${text}\n`)).toEqual([`mediamtx.yml:1:10: metrics: ${/^\d+$/.test(text) ? text : `'${text}'`} is not yes or no`]);
  });
});

describe('webAllowOrigins', () => {
  it('takes a single origin as a list of one', () => {
    expect(parseConfig('webAllowOrigins: https://example.com\n', 'x', {}).webAllowOrigins).toEqual(['https://example.com']);
    expect(parseConfig("webAllowOrigins: '*'\n", 'x', {}).webAllowOrigins).toEqual(['*']);
  });

  it('takes a list, or none', () => {
    const text = yaml('webAllowOrigins:', '  - https://example.com', '  - http://localhost:8080', '  - https://*.example.org');
    expect(parseConfig(text, 'x', {}).webAllowOrigins).toEqual([
      'https://example.com',
      'http://localhost:8080',
      'https://*.example.org',
    ]);
    expect(parseConfig('webAllowOrigins: []\n', 'x', {}).webAllowOrigins).toEqual([]);
  });

  it('rejects what a browser never sends as an origin', () => {
    expect(problemsOf(yaml('webAllowOrigins:', '  - https://example.com/', '  - example.com', '  - 3'))).toEqual([
      "mediamtx.yml:2:5: webAllowOrigins[0]: 'https://example.com/' is not an origin (expected '*' or scheme://host[:port] with no path, e.g. https://example.com)",
      "mediamtx.yml:3:5: webAllowOrigins[1]: 'example.com' is not an origin (expected '*' or scheme://host[:port] with no path, e.g. https://example.com)",
      'mediamtx.yml:4:5: webAllowOrigins[2]: 3 is not an origin',
    ]);
    expect(new RegExp(ORIGIN_PATTERN).test('http://[::1]:8080')).toBe(true);
  });
});

describe('integers', () => {
  it.each(['0', '-1', '1.5', '"5"', 'many'])('writeQueueSize rejects %s', (text) => {
    expect(problemsOf(`writeQueueSize: ${text}\n`)).toEqual(['mediamtx.yml:1:17: writeQueueSize: must be an integer ≥ 1']);
  });

  it('maxReaders accepts 0 (unlimited)', () => {
    expect(parseConfig(yaml('pathDefaults:', '  maxReaders: 0'), 'x', {}).pathDefaults.maxReaders).toBe(0);
  });
});
