import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Ajv } from 'ajv';
import { parse } from 'yaml';
import { describe, expect, it } from 'vitest';
import { DEFAULT_CONFIG_FILE, loadConfig, matchPath, parseConfig } from '../../src/config/load.js';
import { CONFIG_SCHEMA, configSchemaJson, PATH_SETTING_KEYS } from '../../src/config/schema.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const SHIPPED = [DEFAULT_CONFIG_FILE, 'config/examples/minimal.yml', 'config/examples/regex-paths.yml'];

const DEMO_COMMAND =
  '$POLYCAST_FFMPEG -hide_banner -loglevel error -re -f lavfi -i testsrc=size=1280x720:rate=30 ' +
  '-f lavfi -i sine=frequency=440:sample_rate=48000 -c:v libx264 -preset ultrafast -tune zerolatency -g 30 ' +
  '-pix_fmt yuv420p -b:v 2500k -c:a aac -b:a 128k -f flv rtmp://127.0.0.1:$RTMP_PORT/$MTX_PATH';

describe('shipped configuration files', () => {
  it.each(SHIPPED)('%s loads cleanly', (file) => {
    expect(() => loadConfig(`${root}${file}`, {})).not.toThrow();
  });

  it('mediamtx.yml writes out every setting, each with its default', () => {
    const text = readFileSync(`${root}mediamtx.yml`, 'utf8');
    const shipped = loadConfig(`${root}mediamtx.yml`, {});
    const defaults = parseConfig('', `${root}mediamtx.yml`, {});
    expect({ ...shipped, paths: [] }).toEqual(defaults);
    for (const key of Object.keys(CONFIG_SCHEMA.properties!)) expect(text).toMatch(new RegExp(`^${key}:`, 'm'));
    for (const key of PATH_SETTING_KEYS) expect(text).toMatch(new RegExp(`^  ${key}:`, 'm'));
  });

  it('mediamtx.yml publishes a test pattern with a tone on demo, and accepts any other path', () => {
    const config = loadConfig(`${root}mediamtx.yml`, {});
    expect(config.paths.map((p) => p.name)).toEqual(['demo', 'all_others']);
    expect(matchPath(config, 'demo')?.pathConf).toEqual({
      ...config.pathDefaults,
      runOnInit: DEMO_COMMAND,
      runOnInitRestart: true,
    });
    expect(matchPath(config, 'live/anything')?.entryName).toBe('all_others');
  });

  it('regex-paths.yml routes paths as its comments say', () => {
    const config = loadConfig(`${root}config/examples/regex-paths.yml`, {});
    const entry = (name: string) => matchPath(config, name)?.entryName;
    expect(entry('cam1')).toBe('cam1');
    expect(entry('cam2')).toBe('~^cam\\d+$');
    expect(entry('lobby/cam2')).toBe('~^lobby/');
    expect(entry('anything')).toBe('all_others');
    expect(matchPath(config, 'anything')?.pathConf.maxReaders).toBe(10);
  });
});

describe('config/schema.json', () => {
  const json = readFileSync(`${root}config/schema.json`, 'utf8');

  it('is the TypeScript schema, byte for byte (regenerate: node scripts/write-config-schema.mjs)', () => {
    expect(json).toBe(configSchemaJson());
  });

  // What an editor sees: plain YAML 1.2, empty values as null, no defaults filled in.
  it.each(SHIPPED)('accepts %s as an editor reads it', (file) => {
    const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(JSON.parse(json));
    const ok = validate(parse(readFileSync(`${root}${file}`, 'utf8')));
    expect(validate.errors ?? []).toEqual([]);
    expect(ok).toBe(true);
  });

  it('rejects in an editor what the server rejects', () => {
    const validate = new Ajv({ allErrors: true, allowUnionTypes: true }).compile(JSON.parse(json));
    const bad = [
      { rtmpAdress: ':1935' },
      { readTimeout: '10 seconds' },
      { rtmpAddress: ':70000' },
      { rtmp: 'maybe' },
      { paths: { '/cam': null } },
      { paths: { cam: { maxReaders: -1 } } },
      { webAllowOrigins: ['https://example.com/'] },
    ];
    for (const settings of bad) expect(validate(settings), JSON.stringify(settings)).toBe(false);
  });
});
