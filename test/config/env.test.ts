import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { matchPath } from '../../src/config/paths.js';
import { problemsOf, yaml } from './helpers.js';

const FILE = yaml(
  'rtmpAddress: :1935',
  'pathDefaults:',
  '  maxReaders: 2',
  'paths:',
  '  Cam1:',
  '    maxReaders: 1',
  '  live/studio.a:',
  '  ~^cam:',
  '  all_others:',
);

describe('environment overrides', () => {
  it('overrides top-level settings', () => {
    const config = parseConfig(FILE, 'x', {
      POLYCAST_RTMPADDRESS: ':1936',
      POLYCAST_READTIMEOUT: '2s',
      POLYCAST_RTMP: 'no',
      POLYCAST_API: 'yes',
      POLYCAST_WRITEQUEUESIZE: '64',
      POLYCAST_LOGLEVEL: 'debug',
    });
    expect(config.rtmpAddress).toEqual({ host: '', port: 1936 });
    expect(config.readTimeout).toBe(2000);
    expect([config.rtmp, config.api, config.writeQueueSize, config.logLevel]).toEqual([false, true, 64, 'debug']);
  });

  it('overrides pathDefaults, which paths then inherit', () => {
    const config = parseConfig(FILE, 'x', { POLYCAST_PATHDEFAULTS_MAXREADERS: '5', POLYCAST_PATHDEFAULTS_OVERRIDEPUBLISHER: 'true' });
    expect(config.pathDefaults.maxReaders).toBe(5);
    expect(matchPath(config, 'other')?.pathConf).toMatchObject({ maxReaders: 5, overridePublisher: true });
    expect(matchPath(config, 'Cam1')?.pathConf.maxReaders).toBe(1);
  });

  it('matches path names ignoring case, other characters written as _', () => {
    const config = parseConfig(FILE, 'x', {
      POLYCAST_PATHS_CAM1_MAXREADERS: '3',
      POLYCAST_PATHS_LIVE_STUDIO_A_RUNONINITRESTART: 'yes',
      POLYCAST_PATHS_ALL_OTHERS_MAXREADERS: '8',
    });
    expect(config.paths.map((p) => p.name)).toEqual(['Cam1', 'live/studio.a', '~^cam', 'all_others']);
    expect(matchPath(config, 'Cam1')?.pathConf.maxReaders).toBe(3);
    expect(matchPath(config, 'live/studio.a')?.pathConf.runOnInitRestart).toBe(true);
    expect(matchPath(config, 'other')?.pathConf.maxReaders).toBe(8);
  });

  it('creates a path that the file does not have, in lower case, after the others', () => {
    const config = parseConfig(FILE, 'x', { POLYCAST_PATHS_STAGE_2_MAXREADERS: '3' });
    expect(config.paths.map((p) => p.name)).toEqual(['Cam1', 'live/studio.a', '~^cam', 'all_others', 'stage_2']);
    expect(config.paths[4]!.conf).toEqual({ ...config.pathDefaults, maxReaders: 3 });
    expect(parseConfig('', 'x', { POLYCAST_PATHS_ALL_OTHERS_MAXREADERS: '1' }).paths[0]).toMatchObject({
      name: 'all_others',
      regex: /^.*$/,
    });
  });

  it('takes string values verbatim, so commands keep their # and colons', () => {
    const command = 'ffmpeg -i "rtsp://cam:554/x" -f flv rtmp://127.0.0.1:$RTMP_PORT/$MTX_PATH # restream';
    const config = parseConfig('', 'x', { POLYCAST_PATHS_CAM9_RUNONINIT: command, POLYCAST_FFMPEGPATH: '/opt/ff mpeg' });
    expect(config.paths[0]!.conf.runOnInit).toBe(command);
    expect(config.ffmpegPath).toBe('/opt/ff mpeg');
  });

  it('splits webAllowOrigins on commas', () => {
    const config = parseConfig('', 'x', { POLYCAST_WEBALLOWORIGINS: 'https://a.example, http://localhost:8080' });
    expect(config.webAllowOrigins).toEqual(['https://a.example', 'http://localhost:8080']);
  });

  it('reports a bad value under the variable’s name', () => {
    expect(
      problemsOf(FILE, {
        POLYCAST_READTIMEOUT: '10 seconds',
        POLYCAST_PATHS_CAM1_MAXREADERS: '-2',
        POLYCAST_RTMP: 'maybe',
        POLYCAST_WEBALLOWORIGINS: '*,example.com',
        POLYCAST_WRITEQUEUESIZE: '',
      }),
    ).toEqual([
      "env POLYCAST_PATHS_CAM1_MAXREADERS: paths.Cam1.maxReaders: must be an integer ≥ 0",
      "env POLYCAST_READTIMEOUT: readTimeout: '10 seconds' is not a duration (examples: 500ms, 10s, 1m)",
      "env POLYCAST_RTMP: rtmp: 'maybe' is not yes or no",
      "env POLYCAST_WEBALLOWORIGINS: webAllowOrigins[1]: 'example.com' is not an origin (expected '*' or scheme://host[:port] with no path, e.g. https://example.com)",
      'env POLYCAST_WRITEQUEUESIZE: writeQueueSize: must be an integer ≥ 1',
    ]);
  });

  it('reports file and environment problems together, the file first', () => {
    expect(problemsOf('rtmp: maybe\n', { POLYCAST_API: 'perhaps' })).toEqual([
      "mediamtx.yml:1:7: rtmp: 'maybe' is not yes or no",
      "env POLYCAST_API: api: 'perhaps' is not yes or no",
    ]);
  });

  it('reports a port clash caused by a variable under its name', () => {
    expect(problemsOf('', { POLYCAST_RTMPADDRESS: ':4443' })).toEqual([
      "env POLYCAST_RTMPADDRESS: rtmpAddress: port 4443 is already used by webAddress (default ':4443')",
    ]);
  });

  it('rejects unknown settings inside the PATHDEFAULTS_ and PATHS_ namespaces', () => {
    expect(
      problemsOf('', {
        POLYCAST_PATHDEFAULTS_MAXREADER: '1',
        POLYCAST_PATHS_CAM1_MAX_READERS: '1',
        POLYCAST_PATHS_MAXREADERS: '1',
        POLYCAST_PATHS__SOURCE: 'publisher',
        POLYCAST_PATHS: 'x',
      }),
    ).toEqual([
      "env POLYCAST_PATHDEFAULTS_MAXREADER: 'MAXREADER' is not a path setting (did you mean MAXREADERS?)",
      'env POLYCAST_PATHS: sets a whole section; set one setting per variable, e.g. POLYCAST_PATHDEFAULTS_MAXREADERS',
      "env POLYCAST_PATHS_CAM1_MAX_READERS: does not end with a path setting: 'READERS' is not a path setting (one of: SOURCE, SOURCEONDEMAND, SOURCEONDEMANDSTARTTIMEOUT, SOURCEONDEMANDCLOSEAFTER, MAXREADERS, RUNONINIT, RUNONINITRESTART, OVERRIDEPUBLISHER, RUNONDEMAND, RUNONDEMANDRESTART, RUNONDEMANDSTARTTIMEOUT, RUNONDEMANDCLOSEAFTER, RUNONUNDEMAND, RUNONAVAILABLE, RUNONAVAILABLERESTART, RUNONUNAVAILABLE, RUNONONLINE, RUNONONLINERESTART, RUNONOFFLINE, RUNONREAD, RUNONREADRESTART, RUNONUNREAD, SRTPUBLISHPASSPHRASE)",
      'env POLYCAST_PATHS_MAXREADERS: names no path (expected POLYCAST_PATHS_<NAME>_MAXREADERS)',
      'env POLYCAST_PATHS__SOURCE: names no path (expected POLYCAST_PATHS_<NAME>_SOURCE)',
    ]);
  });

  it('refuses a name that matches two paths', () => {
    expect(problemsOf(yaml('paths:', '  live/a:', '  live.a:'), { POLYCAST_PATHS_LIVE_A_MAXREADERS: '1' })).toEqual([
      'env POLYCAST_PATHS_LIVE_A_MAXREADERS: matches several paths (live/a, live.a); rename one to override it from the environment',
    ]);
  });

  it('ignores other POLYCAST_ variables and variables of other programs', () => {
    const config = parseConfig('', 'x', {
      POLYCAST_FFMPEG: '/usr/bin/ffmpeg',
      POLYCAST_RTMPADRESS: ':1',
      MTX_RTMPADDRESS: ':1',
      RTMP_PORT: '1',
      POLYCAST_LOGLEVEL: undefined,
    });
    expect(config).toEqual(parseConfig('', 'x', {}));
  });

  it('applies to process.env by default', () => {
    process.env['POLYCAST_WEBSOCKETSEGMENTSIZE'] = '3';
    try {
      expect(parseConfig('', 'x').webSocketSegmentSize).toBe(3);
    } finally {
      delete process.env['POLYCAST_WEBSOCKETSEGMENTSIZE'];
    }
  });
});
