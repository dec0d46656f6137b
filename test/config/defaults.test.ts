import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import type { ResolvedConfig } from '../../src/config/schema.js';
import { yaml } from './helpers.js';

const DEFAULTS: ResolvedConfig = {
  file: 'mediamtx.yml',
  logLevel: 'info',
  readTimeout: 10_000,
  writeTimeout: 10_000,
  writeQueueSize: 512,
  rtmp: true,
  rtmpAddress: { host: '', port: 1935 },
  rtmpMaxMessageSize: 8 * 1024 * 1024,
  rtmpMaxUnauthenticatedPerIP: 16,
  srt: false,
  srtAddress: { host: '', port: 8890 },
  webAddress: { host: '', port: 4443 },
  webAllowOrigins: ['*'],
  webServerCert: '',
  webServerKey: '',
  webTLS: 'off',
  webTLSDomains: [],
  webTLSEmail: '',
  webTLSACMEDirectory: 'https://acme-v02.api.letsencrypt.org/directory',
  webTLSACMERootCA: '',
  webTLSCacheDirectory: '',
  webTLSHTTPAddress: { host: '', port: 80 },
  webTransport: true,
  webTransportAddress: undefined,
  webSocketProtocol: 'rtwebsocket',
  webSocketSegmentSize: 1,
  hls: true,
  hlsVariant: 'lowLatency',
  hlsSegmentCount: 7,
  hlsSegmentDuration: 1000,
  hlsPartDuration: 200,
  hlsSegmentMaxSize: 50 * 1024 * 1024,
  hlsAllowOrigins: ['*'],
  hlsAlwaysRemux: false,
  hlsMuxerCloseAfter: 60_000,
  hlsDirectory: '',
  ffmpegPath: '',
  api: false,
  apiAddress: { host: '', port: 9997 },
  metrics: false,
  metricsAddress: { host: '', port: 9998 },
  maxConnections: 0,
  runOnConnect: '',
  runOnConnectRestart: false,
  runOnDisconnect: '',
  authMethod: 'internal',
  authInternalUsers: [
    { user: 'any', pass: '', ips: [], permissions: [{ action: 'publish', path: '' }, { action: 'read', path: '' }] },
    { user: 'any', pass: '', ips: ['127.0.0.1', '::1'], permissions: [{ action: 'api', path: '' }, { action: 'metrics', path: '' }] },
  ],
  authHTTPAddress: '',
  authHTTPExclude: [],
  authJWTJWKS: '',
  authJWTClaimKey: 'mediamtx_permissions',
  authJWTExclude: [],
  authJWTIssuer: '',
  authJWTAudience: '',
  authMaxFailures: 5,
  authFailureWindow: 10_000,
  authBlockDuration: 60_000,
  pathDefaults: {
    source: 'publisher',
    sourceOnDemand: false,
    sourceOnDemandStartTimeout: 10_000,
    sourceOnDemandCloseAfter: 10_000,
    maxReaders: 0,
    runOnInit: '',
    runOnInitRestart: false,
    overridePublisher: false,
    runOnDemand: '',
    runOnDemandRestart: false,
    runOnDemandStartTimeout: 10_000,
    runOnDemandCloseAfter: 10_000,
    runOnUnDemand: '',
    runOnAvailable: '',
    runOnAvailableRestart: false,
    runOnUnavailable: '',
    runOnOnline: '',
    runOnOnlineRestart: false,
    runOnOffline: '',
    runOnRead: '',
    runOnReadRestart: false,
    runOnUnread: '',
    srtPublishPassphrase: '',
  },
  paths: [],
};

describe('defaults', () => {
  it.each([
    ['an empty file', ''],
    ['a file of comments', '# nothing set\n'],
    ['an explicit null document', '~\n'],
    ['empty sections', yaml('pathDefaults:', 'paths:')],
  ])('resolves %s to every default', (_, text) => {
    expect(parseConfig(text, 'mediamtx.yml', {})).toEqual(DEFAULTS);
  });

  it('refuses a second publisher by default, unlike MediaMTX', () => {
    expect(parseConfig('', 'mediamtx.yml', {}).pathDefaults.overridePublisher).toBe(false);
  });

  it('treats a key with an empty value as not set', () => {
    const config = parseConfig(yaml('readTimeout:', 'rtmpAddress:', 'runOnInit:', 'webAllowOrigins:'), 'x.yml', {});
    expect(config.readTimeout).toBe(10_000);
    expect(config.rtmpAddress).toEqual({ host: '', port: 1935 });
    expect(config.webAllowOrigins).toEqual(['*']);
  });

  it('gives an empty path entry (`all_others:`, `cam1:`) the path defaults', () => {
    const config = parseConfig(
      yaml('pathDefaults:', '  maxReaders: 7', '  runOnInit: echo hi', 'paths:', '  cam1:', '  all_others:'),
      'x.yml',
      {},
    );
    expect(config.paths.map((p) => p.name)).toEqual(['cam1', 'all_others']);
    for (const entry of config.paths) {
      expect(entry.conf).toEqual({ ...DEFAULTS.pathDefaults, maxReaders: 7, runOnInit: 'echo hi' });
    }
  });

  it('lets a path override some path defaults and inherit the others', () => {
    const config = parseConfig(
      yaml(
        'pathDefaults:',
        '  maxReaders: 7',
        '  overridePublisher: yes',
        'paths:',
        '  cam1:',
        '    maxReaders: 2',
        '    runOnInit:', // empty: inherits
      ),
      'x.yml',
      {},
    );
    expect(config.paths[0]!.conf).toEqual({ ...DEFAULTS.pathDefaults, maxReaders: 2, overridePublisher: true });
  });

  it('does not let a YAML alias carry one path’s override into another', () => {
    const config = parseConfig(
      yaml('paths:', '  cam1: &cam', '    maxReaders: 2', '  cam2: *cam', '  cam3:', '    <<: *cam', '    maxReaders: 5'),
      'x.yml',
      { POLYCAST_PATHS_CAM2_MAXREADERS: '3' },
    );
    expect(config.paths.map((p) => [p.name, p.conf.maxReaders])).toEqual([
      ['cam1', 2],
      ['cam2', 3],
      ['cam3', 5],
    ]);
  });

  it('reads every setting', () => {
    const config = parseConfig(
      yaml(
        'logLevel: debug',
        'readTimeout: 1m30s',
        'writeTimeout: 500ms',
        'writeQueueSize: 64',
        'rtmp: no',
        'rtmpAddress: 127.0.0.1:1936',
        'webAddress: "[::1]:8443"',
        'webAllowOrigins: https://example.com',
        'webServerCert: server.crt',
        'webServerKey: server.key',
        'webTLSDomains: [Example.com, www.example.com]',
        'webTLSEmail: ops@example.com',
        'webTLSACMEDirectory: https://acme.example/dir',
        'webTLSACMERootCA: ca.pem',
        'webTLSCacheDirectory: /var/lib/polycast',
        'webTLSHTTPAddress: 127.0.0.1:8080',
        'webTransport: no',
        'webTransportAddress: :8444',
        'webSocketProtocol: standard',
        'webSocketSegmentSize: 4',
        'ffmpegPath: /usr/bin/ffmpeg',
        'api: yes',
        'apiAddress: localhost:9000',
        'metrics: true',
        'metricsAddress: :0',
      ),
      'x.yml',
      {},
    );
    expect(config).toEqual({
      ...DEFAULTS,
      file: 'x.yml',
      logLevel: 'debug',
      readTimeout: 90_000,
      writeTimeout: 500,
      writeQueueSize: 64,
      rtmp: false,
      rtmpAddress: { host: '127.0.0.1', port: 1936 },
      webAddress: { host: '::1', port: 8443 },
      webAllowOrigins: ['https://example.com'],
      webServerCert: 'server.crt',
      webServerKey: 'server.key',
      webTLS: 'files',
      webTLSDomains: ['example.com', 'www.example.com'],
      webTLSEmail: 'ops@example.com',
      webTLSACMEDirectory: 'https://acme.example/dir',
      webTLSACMERootCA: 'ca.pem',
      webTLSCacheDirectory: '/var/lib/polycast',
      webTLSHTTPAddress: { host: '127.0.0.1', port: 8080 },
      webTransport: false,
      webTransportAddress: { host: '', port: 8444 },
      webSocketProtocol: 'standard',
      webSocketSegmentSize: 4,
      ffmpegPath: '/usr/bin/ffmpeg',
      api: true,
      apiAddress: { host: 'localhost', port: 9000 },
      metrics: true,
      metricsAddress: { host: '', port: 0 },
    });
  });
});
