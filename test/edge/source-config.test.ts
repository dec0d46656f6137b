import { describe, expect, it } from 'vitest';
import { parseConfig, matchPath } from '../../src/config/load.js';
import { expandSource, parseSource } from '../../src/config/source.js';
import { problemsOf, yaml } from '../config/helpers.js';

describe('source URLs', () => {
  it('splits an RTMP URL into app and stream, with default ports as MediaMTX has them', () => {
    expect(parseSource('rtmp://origin/live/cam1')).toEqual({
      protocol: 'rtmp',
      tls: false,
      host: 'origin',
      port: 1935,
      app: 'live',
      streamName: 'cam1',
      tcUrl: 'rtmp://origin/live',
      display: 'rtmp://origin/live/cam1',
    });
    expect(parseSource('rtmps://origin/live/cam1')).toMatchObject({ tls: true, port: 1936 });
    expect(parseSource('rtmp://10.0.0.1:1940/app/a/b')).toMatchObject({ host: '10.0.0.1', port: 1940, app: 'app', streamName: 'a/b', tcUrl: 'rtmp://10.0.0.1:1940/app' });
    expect(parseSource('rtmp://[::1]:1935/live/x')).toMatchObject({ host: '::1', port: 1935 });
  });

  it('passes RTMP credentials as the query Polycast and MediaMTX servers read, and never shows them', () => {
    const target = parseSource('rtmp://studio:s%40cret@origin/live/cam1?token=abc');
    expect(target).toMatchObject({ streamName: 'cam1?token=abc&user=studio&pass=s%40cret', display: 'rtmp://origin/live/cam1' });
  });

  it('takes a ws-nal endpoint as it is, and polycast:// as sugar for it', () => {
    expect(parseSource('ws://origin:4443/live/cam1/ws/nal?token=t')).toEqual({
      protocol: 'ws-nal',
      url: 'ws://origin:4443/live/cam1/ws/nal?token=t',
      display: 'ws://origin:4443/live/cam1/ws/nal',
    });
    expect(parseSource('wss://u:p@origin/live/cam1/ws/nal')).toMatchObject({ url: 'wss://u:p@origin/live/cam1/ws/nal', display: 'wss://origin/live/cam1/ws/nal' });
    expect(parseSource('polycast://origin/live/cam1')).toMatchObject({ protocol: 'ws-nal', url: 'ws://origin:4443/live/cam1/ws/nal' });
    expect(parseSource('polycasts://u:p@origin:8443/live/cam1/?token=t')).toMatchObject({ url: 'wss://u:p@origin:8443/live/cam1/ws/nal?token=t' });
  });

  it.each([
    ['rtsp://cam/stream', "Polycast cannot pull 'rtsp' sources (it pulls rtmp, rtmps, ws, wss, polycast, polycasts, moqt)"],
    ['http://origin/live/x/index.m3u8', "Polycast cannot pull 'http' sources (it pulls rtmp, rtmps, ws, wss, polycast, polycasts, moqt)"],
    ['rtmp://origin/live', "'rtmp://origin/live' needs an app and a stream name: rtmp://host[:port]/app/stream"],
    ['ws://origin:4443/live/x', "'ws://origin:4443/live/x' is not a Polycast ws-nal endpoint: write ws://host:port/<path>/ws/nal, or polycast://host:port/<path>"],
    ['polycast://origin:4443/', "'polycast://origin:4443/' names no path: write polycast://host:port/<path>"],
    ['camera', "'camera' is not a supported source (publisher, or a URL: rtmp://, rtmps://, ws://, wss://, polycast://, polycasts://, moqt://)"],
  ])('refuses %s', (source, error) => {
    expect(parseSource(source)).toEqual({ error });
  });

  it("expands a ~regex path's groups and the path name, as MediaMTX does for proxies", () => {
    expect(expandSource('rtmp://origin/live/$G1?x=$G2', 'proxy/cam1', ['cam1', '7'])).toBe('rtmp://origin/live/cam1?x=7');
    expect(expandSource('polycast://origin/$MTX_PATH', 'live/a', [])).toBe('polycast://origin/live/a');
    expect(expandSource('rtmp://origin/live/$G3', 'x', ['a'])).toBe('rtmp://origin/live/$G3');
  });
});

describe('source settings in the configuration', () => {
  it('loads an edge path with its on-demand keys', () => {
    const config = parseConfig(
      yaml(
        'paths:',
        '  live/cam1:',
        '    source: ws://10.0.0.1:4443/live/cam1/ws/nal',
        '  ~^proxy/(.+)$:',
        '    source: rtmp://origin/live/$G1',
        '    sourceOnDemand: yes',
        '    sourceOnDemandStartTimeout: 3s',
        '    sourceOnDemandCloseAfter: 500ms',
      ),
      'mediamtx.yml',
      {},
    );
    expect(matchPath(config, 'live/cam1')?.pathConf).toMatchObject({ source: 'ws://10.0.0.1:4443/live/cam1/ws/nal', sourceOnDemand: false, sourceOnDemandStartTimeout: 10_000 });
    expect(matchPath(config, 'proxy/x')?.pathConf).toMatchObject({ sourceOnDemand: true, sourceOnDemandStartTimeout: 3000, sourceOnDemandCloseAfter: 500 });
  });

  it('names file, line and key for a source Polycast cannot pull', () => {
    expect(
      problemsOf(
        yaml(
          'pathDefaults:', //                                   1
          '  source: rtmp://origin', //                         2
          'paths:', //                                          3
          '  cam1:', //                                         4
          '    source: rtsp://192.168.0.10/stream', //          5
          '  cam2:', //                                         6
          '    source: ws://origin:4443/cam2', //               7
          '  cam3:', //                                         8
          '    source: polycast://origin', //                   9
        ),
      ),
    ).toEqual([
      "mediamtx.yml:2:11: pathDefaults.source: 'rtmp://origin' needs an app and a stream name: rtmp://host[:port]/app/stream",
      "mediamtx.yml:5:13: paths.cam1.source: Polycast cannot pull 'rtsp' sources (it pulls rtmp, rtmps, ws, wss, polycast, polycasts, moqt)",
      "mediamtx.yml:7:13: paths.cam2.source: 'ws://origin:4443/cam2' is not a Polycast ws-nal endpoint: write ws://host:port/<path>/ws/nal, or polycast://host:port/<path>",
      "mediamtx.yml:9:13: paths.cam3.source: 'polycast://origin' names no path: write polycast://host:port/<path>",
    ]);
  });

  it('refuses a URL source on a ~regex path without sourceOnDemand, as MediaMTX does', () => {
    expect(problemsOf(yaml('paths:', '  ~^proxy/(.+)$:', '    source: rtmp://origin/live/$G1', '  all_others:'))).toEqual([
      'mediamtx.yml:3:13: paths.~^proxy/(.+)$.source: a URL source on a ~regex or all_others path needs sourceOnDemand: yes (as in MediaMTX): such paths exist only while someone reads them',
    ]);
    expect(problemsOf(yaml('pathDefaults:', '  source: polycast://origin/$MTX_PATH', 'paths:', '  all_others:'))).toEqual([
      'mediamtx.yml:2:11: pathDefaults.source: a URL source on a ~regex or all_others path needs sourceOnDemand: yes (as in MediaMTX): such paths exist only while someone reads them',
    ]);
  });

  it("refuses runOnDemand with a URL source and sourceOnDemand with 'publisher', as MediaMTX does", () => {
    expect(
      problemsOf(yaml('paths:', '  a:', '    source: rtmp://origin/live/a', '    runOnDemand: ffmpeg -i x', '  b:', '    sourceOnDemand: yes')),
    ).toEqual([
      'mediamtx.yml:4:18: paths.a.runOnDemand: cannot be used when the source is a URL: the source is what starts on demand then (sourceOnDemand)',
      "mediamtx.yml:6:21: paths.b.sourceOnDemand: is useless when the source is 'publisher' (nothing is pulled)",
    ]);
  });

  it('reports the same problem of pathDefaults once, however many paths inherit it', () => {
    expect(problemsOf(yaml('pathDefaults:', '  sourceOnDemand: yes', 'paths:', '  a:', '  b:'))).toEqual([
      "mediamtx.yml:2:19: pathDefaults.sourceOnDemand: is useless when the source is 'publisher' (nothing is pulled)",
    ]);
  });

  it('takes sources from the environment too', () => {
    const config = parseConfig(yaml('paths:', '  cam1:'), 'mediamtx.yml', { POLYCAST_PATHS_CAM1_SOURCE: 'polycast://origin/live/cam1', POLYCAST_PATHS_CAM1_SOURCEONDEMAND: 'yes' });
    expect(matchPath(config, 'cam1')?.pathConf).toMatchObject({ source: 'polycast://origin/live/cam1', sourceOnDemand: true });
  });
});
