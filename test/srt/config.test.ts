import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { matchPath } from '../../src/config/paths.js';

describe('SRT settings', () => {
  it('reads srt, srtAddress and srtPublishPassphrase from the file and the environment, with MediaMTX key names', () => {
    const config = parseConfig("srt: yes\nsrtAddress: 127.0.0.1:9000\npaths:\n  cam:\n    srtPublishPassphrase: '0123456789'\n", 'x.yml', {});
    expect([config.srt, config.srtAddress]).toEqual([true, { host: '127.0.0.1', port: 9000 }]);
    expect(matchPath(config, 'cam')?.pathConf.srtPublishPassphrase).toBe('0123456789');
    const env = parseConfig('paths:\n  cam:\n', 'x.yml', { POLYCAST_SRT: 'yes', POLYCAST_SRTADDRESS: ':8891', POLYCAST_PATHS_CAM_SRTPUBLISHPASSPHRASE: 'abcdefghij' });
    expect([env.srt, env.srtAddress.port, matchPath(env, 'cam')?.pathConf.srtPublishPassphrase]).toEqual([true, 8891, 'abcdefghij']);
  });

  it('refuses a passphrase libsrt would refuse, and a misspelt key, with file and line', () => {
    expect(() => parseConfig('paths:\n  cam:\n    srtPublishPassphrase: short\n', 'x.yml', {})).toThrow(
      /x\.yml:3:\d+: paths\.cam\.srtPublishPassphrase: is 5 characters long: libsrt takes 10 to 79$/,
    );
    // YAML reads an unquoted run of digits as a number.
    expect(() => parseConfig('paths:\n  cam:\n    srtPublishPassphrase: 0123456789\n', 'x.yml', {})).toThrow(/srtPublishPassphrase: is not a string \(quote it\)/);
    expect(() => parseConfig('srtAdress: :8890\n', 'x.yml', {})).toThrow(/x\.yml:1:1: srtAdress: unknown key \(did you mean 'srtAddress'\?\)/);
  });
});
