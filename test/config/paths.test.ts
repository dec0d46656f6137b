import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { CONFIG_PATH_NAME_PATTERN, checkConfigPathName, matchPath, validatePathName } from '../../src/config/paths.js';
import { problemsOf, yaml } from './helpers.js';

describe('validatePathName', () => {
  it.each(['cam1', 'live/cam1', 'a.b-c_d~e', 'A/B/C', '~home', 'all_others'])('accepts %j', (name) => {
    expect(validatePathName(name)).toBeUndefined();
  });

  it.each([
    ['', 'the path name is empty'],
    ['/cam1', 'the path name must not start with a slash'],
    ['cam1/', 'the path name must not end with a slash'],
    ['a/../b', "the path name must not contain '..'"],
    ['..', "the path name must not contain '..'"],
    ['cam 1', 'the path name contains " "; allowed characters are A-Z a-z 0-9 _ - . / ~'],
    ['cam?x=1', 'the path name contains "?"; allowed characters are A-Z a-z 0-9 _ - . / ~'],
    ['caméra', 'the path name contains "é"; allowed characters are A-Z a-z 0-9 _ - . / ~'],
  ])('rejects %j', (name, error) => {
    expect(validatePathName(name)).toBe(error);
  });

  it('agrees with the key pattern editors get', () => {
    const pattern = new RegExp(CONFIG_PATH_NAME_PATTERN);
    const samples = ['cam1', 'live/cam1', '/a', 'a/', 'a..b', 'a b', '~^x$', '~', 'all_others', 'all', '', 'é'];
    for (const name of samples) expect(pattern.test(name), name).toBe(!('error' in checkConfigPathName(name)));
  });
});

describe('regex paths and precedence', () => {
  const config = parseConfig(
    yaml(
      'paths:',
      '  ~^cam(\\d+)$:', // before the exact name: exact still wins
      '    maxReaders: 4',
      '  cam1:',
      '    maxReaders: 1',
      '  all_others:',
      '    maxReaders: 9',
      '  ~^lobby/:', // after all_others: never reached
      '    maxReaders: 20',
    ),
    'x.yml',
    {},
  );

  it('keeps entries in file order, regex compiled', () => {
    expect(config.paths.map((p) => [p.name, p.regex?.source])).toEqual([
      ['~^cam(\\d+)$', '^cam(\\d+)$'],
      ['cam1', undefined],
      ['all_others', '^.*$'],
      ['~^lobby/', '^lobby\\/'],
    ]);
  });

  it('prefers an exact name to any regex', () => {
    expect(matchPath(config, 'cam1')).toEqual({ pathConf: config.paths[1]!.conf, match: undefined, entryName: 'cam1' });
  });

  it('otherwise takes the first matching regex or all_others in file order, with its captures', () => {
    const cam7 = matchPath(config, 'cam7');
    expect(cam7?.entryName).toBe('~^cam(\\d+)$');
    expect(cam7?.pathConf.maxReaders).toBe(4);
    expect(cam7?.match?.[1]).toBe('7');
    expect(matchPath(config, 'lobby/door')?.entryName).toBe('all_others');
  });

  it('does not anchor regexes, as MediaMTX does not', () => {
    const unanchored = parseConfig(yaml('paths:', '  ~cam:'), 'x', {});
    expect(matchPath(unanchored, 'backstage/cam2')?.entryName).toBe('~cam');
    expect(matchPath(unanchored, 'mic')).toBeUndefined();
  });

  it('matches nothing for an invalid name, even with all_others', () => {
    expect(matchPath(config, '../etc')).toBeUndefined();
    expect(matchPath(config, '')).toBeUndefined();
  });

  it('matches nothing when no entry applies', () => {
    expect(matchPath(parseConfig(yaml('paths:', '  cam1:'), 'x', {}), 'cam2')).toBeUndefined();
  });

  it('gives regex entries path defaults too', () => {
    const withDefaults = parseConfig(yaml('pathDefaults:', '  runOnInit: x', 'paths:', '  ~^a:'), 'x', {});
    expect(matchPath(withDefaults, 'abc')?.pathConf.runOnInit).toBe('x');
  });

  it('reports a regex that does not compile at its key', () => {
    expect(problemsOf(yaml('paths:', '  cam1:', '  ~[a-:'))).toEqual([
      'mediamtx.yml:3:3: paths.~[a-: Invalid regular expression: /[a-/: Unterminated character class',
    ]);
  });
});
