import { mkdtempSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError, formatProblem } from '../../src/config/errors.js';
import { loadConfig, parseConfig } from '../../src/config/load.js';
import { problemsOf, yaml } from './helpers.js';

describe('error reports', () => {
  it('lists every problem, in file order, each with file:line:col and key path', () => {
    const text = yaml(
      'logLevel: verbose', //                 1
      "readTimeout: '10 seconds'", //          2
      'writeQueueSize: 0', //                 3
      'rtmp: maybe', //                       4
      'rtmpAddress: "1935"', //               5
      'webSocketProtocol: binary', //         6
      'webSocketSegmentSize: 1.5', //         7
      'ffmpegPath: [a]', //                   8
      'paths:', //                            9
      '  cam1:', //                          10
      '    source: rtsp', //                 11
      '    maxReaders: -1', //               12
      'rtmpAdress: :1935', //                13
    );
    expect(problemsOf(text)).toEqual([
      "mediamtx.yml:1:11: logLevel: 'verbose' is not a log level (one of: error, warn, info, debug)",
      "mediamtx.yml:2:14: readTimeout: '10 seconds' is not a duration (examples: 500ms, 10s, 1m)",
      'mediamtx.yml:3:17: writeQueueSize: must be an integer ≥ 1',
      "mediamtx.yml:4:7: rtmp: 'maybe' is not yes or no",
      "mediamtx.yml:5:14: rtmpAddress: '1935' is not an address: missing ':port' (expected [host]:port, e.g. :1935 or 127.0.0.1:1935)",
      "mediamtx.yml:6:20: webSocketProtocol: 'binary' is not a WebSocket protocol (one of: rtwebsocket, standard)",
      'mediamtx.yml:7:23: webSocketSegmentSize: must be an integer ≥ 1',
      'mediamtx.yml:8:13: ffmpegPath: a list is not a string (quote it)',
      "mediamtx.yml:11:13: paths.cam1.source: 'rtsp' is not a supported source (publisher, or a URL: rtmp://, rtmps://, ws://, wss://, polycast://, polycasts://, moqt://)",
      'mediamtx.yml:12:17: paths.cam1.maxReaders: must be an integer ≥ 0',
      "mediamtx.yml:13:1: rtmpAdress: unknown key (did you mean 'rtmpAddress'?)",
    ]);
  });

  it('exposes the problems as data too', () => {
    try {
      parseConfig('rtmp: maybe\n', 'a.yml', {});
      expect.unreachable();
    } catch (err) {
      const error = err as ConfigError;
      expect(error.name).toBe('ConfigError');
      expect(error.problems).toEqual([
        { origin: { kind: 'file', file: 'a.yml', line: 1, col: 7 }, keyPath: 'rtmp', message: "'maybe' is not yes or no" },
      ]);
      expect(formatProblem(error.problems[0]!)).toBe("a.yml:1:7: rtmp: 'maybe' is not yes or no");
    }
  });

  describe('unknown keys', () => {
    it.each([
      ['rtmpAdress: :1935', "mediamtx.yml:1:1: rtmpAdress: unknown key (did you mean 'rtmpAddress'?)"],
      ['readtimeout: 5s', "mediamtx.yml:1:1: readtimeout: unknown key (did you mean 'readTimeout'?)"],
      ['webAllowOrigin: "*"', "mediamtx.yml:1:1: webAllowOrigin: unknown key (did you mean 'webAllowOrigins'?)"],
      ['webrtc: yes', 'mediamtx.yml:1:1: webrtc: unknown key'],
      ['maxReaders: 3', 'mediamtx.yml:1:1: maxReaders: unknown key (path settings go under pathDefaults: or under a path in paths:)'],
    ])('at the top level: %s', (text, expected) => {
      expect(problemsOf(`${text}\n`)).toEqual([expected]);
    });

    it('inside pathDefaults and paths', () => {
      const text = yaml(
        'pathDefaults:',
        '  runOnInitRestrat: yes',
        'paths:',
        '  live/cam1:',
        '    maxReader: 2',
        '    readTimeout: 1s',
        '    record: yes',
      );
      expect(problemsOf(text)).toEqual([
        "mediamtx.yml:2:3: pathDefaults.runOnInitRestrat: unknown key (did you mean 'runOnInitRestart'?)",
        "mediamtx.yml:5:5: paths.live/cam1.maxReader: unknown key (did you mean 'maxReaders'?)",
        'mediamtx.yml:6:5: paths.live/cam1.readTimeout: unknown key (a global setting: put it at the top level of the file)',
        'mediamtx.yml:7:5: paths.live/cam1.record: unknown key (path settings are: source, sourceOnDemand, sourceOnDemandStartTimeout, sourceOnDemandCloseAfter, maxReaders, runOnInit, runOnInitRestart, overridePublisher, runOnDemand, runOnDemandRestart, runOnDemandStartTimeout, runOnDemandCloseAfter, runOnUnDemand, runOnAvailable, runOnAvailableRestart, runOnUnavailable, runOnOnline, runOnOnlineRestart, runOnOffline, runOnRead, runOnReadRestart, runOnUnread, srtPublishPassphrase)',
      ]);
    });
  });

  it('names bad path names and bad regular expressions at their key', () => {
    const text = yaml('paths:', '  /cam1:', '  cam1/:', '  a/../b:', '  "cam 1":', '  ~^(cam:', '  ~^cam(\\d+)$:');
    expect(problemsOf(text)).toEqual([
      'mediamtx.yml:2:3: paths./cam1: the path name must not start with a slash',
      'mediamtx.yml:3:3: paths.cam1/: the path name must not end with a slash',
      "mediamtx.yml:4:3: paths.a/../b: the path name must not contain '..'",
      'mediamtx.yml:5:3: paths.cam 1: the path name contains " "; allowed characters are A-Z a-z 0-9 _ - . / ~',
      'mediamtx.yml:6:3: paths.~^(cam: Invalid regular expression: /^(cam/: Unterminated group',
    ]);
  });

  it('reports wrongly shaped sections', () => {
    expect(problemsOf(yaml('pathDefaults: 3', 'paths:', '  - cam1', 'webAllowOrigins: {a: 1}'))).toEqual([
      'mediamtx.yml:1:15: pathDefaults: must be a mapping of path settings, or empty',
      'mediamtx.yml:3:3: paths: must be a mapping from path names to path settings',
      "mediamtx.yml:4:18: webAllowOrigins: must be '*', an origin, or a list of origins",
    ]);
    expect(problemsOf(yaml('paths:', '  cam1: yes'))).toEqual([
      'mediamtx.yml:2:9: paths.cam1: must be a mapping of path settings, or empty',
    ]);
  });

  it('requires the file to be a mapping', () => {
    expect(problemsOf('- rtmp\n')).toEqual(['mediamtx.yml:1:1: the configuration must be a mapping of settings']);
    expect(problemsOf('\n\nhello\n')).toEqual(['mediamtx.yml:3:1: the configuration must be a mapping of settings']);
  });

  describe('YAML syntax', () => {
    // Found by the config fuzzer: these parse, then failed (or turned into odd key names) with no position.
    it('places YAML that cannot become settings: unset aliases, bad merges, list and empty keys', () => {
      expect(problemsOf(yaml('readTimeout: 10s', 'paths:', '  cam1: *nowhere'))).toEqual([
        'mediamtx.yml:3:9: alias *nowhere refers to no anchor &nowhere written before it',
      ]);
      expect(problemsOf(yaml('base: &b [1, 2]', 'paths:', '  cam1:', '    <<: *b'))).toEqual([
        'mediamtx.yml:4:5: a << merge takes a mapping, an alias of one, or a list of those',
      ]);
      expect(problemsOf(yaml('rtmp: yes', '? [complex]', ': key'))).toEqual(['mediamtx.yml:2:3: a key must be a plain name, not a list or a mapping']);
      expect(problemsOf(yaml('rtmp: yes', ': value'))).toEqual(['mediamtx.yml:2:1: a key is empty']);
    });

    it('reports syntax errors with their position, and nothing else', () => {
      const lines = problemsOf(yaml('rtmpAdress: :1935', 'paths:', '  cam1:', '\tmaxReaders: 1'));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toMatch(/^mediamtx\.yml:4:1: .*tab/i);
    });

    it('reports an unclosed flow sequence', () => {
      const lines = problemsOf(yaml('webAllowOrigins: [a, b', 'rtmp: yes'));
      expect(lines[0]).toMatch(/^mediamtx\.yml:2:1: /);
    });

    it('reports duplicate keys at the second one', () => {
      expect(problemsOf(yaml('rtmp: yes', 'api: no', 'rtmp: no'))).toEqual(['mediamtx.yml:3:1: Map keys must be unique']);
    });

    it('reports a second document', () => {
      expect(problemsOf(yaml('rtmp: yes', '---', 'api: no'))[0]).toMatch(/^mediamtx\.yml:2:1: .*multiple documents/);
    });
  });

  describe('checks across settings', () => {
    it('needs webServerCert and webServerKey together', () => {
      expect(problemsOf('webServerCert: server.crt\n')).toEqual([
        'mediamtx.yml:1:16: webServerCert: is set but webServerKey is not; set both or neither',
      ]);
      expect(problemsOf('webServerKey: server.key\n')).toEqual([
        'mediamtx.yml:1:15: webServerKey: is set but webServerCert is not; set both or neither',
      ]);
    });

    it('refuses two enabled listeners on one TCP port', () => {
      expect(problemsOf(yaml('webAddress: :9000', 'api: yes', 'apiAddress: 127.0.0.1:9000'))).toEqual([
        'mediamtx.yml:3:13: apiAddress: port 9000 is already used by webAddress',
      ]);
      expect(problemsOf(yaml('rtmpAddress: :4443'))).toEqual([
        "mediamtx.yml:1:14: rtmpAddress: port 4443 is already used by webAddress (default ':4443')",
      ]);
    });

    it('allows one port on different hosts, on disabled listeners, and port 0 everywhere', () => {
      expect(() => parseConfig(yaml('webAddress: 127.0.0.1:9000', 'api: yes', 'apiAddress: 127.0.0.2:9000'), 'x', {})).not.toThrow();
      expect(() => parseConfig(yaml('webAddress: :9997', 'api: no'), 'x', {})).not.toThrow();
      const zero = yaml('rtmpAddress: :0', 'webAddress: :0', 'api: yes', 'apiAddress: :0', 'metrics: yes', 'metricsAddress: :0');
      expect(() => parseConfig(zero, 'x', {})).not.toThrow();
    });

    it('needs durations of at least a millisecond', () => {
      expect(problemsOf(yaml('readTimeout: "0"', 'writeTimeout: 100us'))).toEqual([
        "mediamtx.yml:1:14: readTimeout: '0' is too short (at least 1ms)",
        "mediamtx.yml:2:15: writeTimeout: '100us' is too short (at least 1ms)",
      ]);
    });
  });

  describe('loadConfig', () => {
    it('names the missing file', () => {
      const dir = mkdtempSync(join(tmpdir(), 'polycast-config-'));
      const file = join(dir, 'nope.yml');
      expect(() => loadConfig(file, {})).toThrow(new ConfigError([]).constructor as typeof ConfigError);
      expect(() => loadConfig(file, {})).toThrow(`${file}: configuration file not found (looked for ${resolve(file)})`);
    });

    it('reports a file it cannot read', () => {
      const dir = mkdtempSync(join(tmpdir(), 'polycast-config-'));
      mkdirSync(join(dir, 'a.yml'));
      expect(() => loadConfig(join(dir, 'a.yml'), {})).toThrow(/a\.yml: cannot read the configuration file: EISDIR/);
    });
  });
});
