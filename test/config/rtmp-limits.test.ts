import { describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { parseSize } from '../../src/config/size.js';

describe('RTMP limit settings', () => {
  it('reads sizes as bytes or with binary units, as MediaMTX writes them', () => {
    expect(parseSize(65536)).toBe(65536);
    expect(parseSize('65536')).toBe(65536);
    expect(parseSize('64K')).toBe(65536);
    expect(parseSize('8M')).toBe(8 * 1024 * 1024);
    expect(parseSize('8MB')).toBe(8 * 1024 * 1024);
    expect(parseSize('8MiB')).toBe(8 * 1024 * 1024);
    expect(parseSize('1.5M')).toBe(1.5 * 1024 * 1024);
    expect(parseSize('8 M')).toBeUndefined();
    expect(parseSize('-1')).toBeUndefined();
    expect(parseSize('lots')).toBeUndefined();
  });

  it('takes rtmpMaxMessageSize and rtmpMaxUnauthenticatedPerIP from the file and the environment', () => {
    const config = parseConfig('rtmpMaxMessageSize: 4M\nrtmpMaxUnauthenticatedPerIP: 3\n', 'x.yml', {});
    expect([config.rtmpMaxMessageSize, config.rtmpMaxUnauthenticatedPerIP]).toEqual([4 * 1024 * 1024, 3]);
    const env = parseConfig('', 'x.yml', { POLYCAST_RTMPMAXMESSAGESIZE: '512K', POLYCAST_RTMPMAXUNAUTHENTICATEDPERIP: '0' });
    expect([env.rtmpMaxMessageSize, env.rtmpMaxUnauthenticatedPerIP]).toEqual([512 * 1024, 0]);
  });

  it('refuses sizes that are not sizes, and sizes RTMP cannot use', () => {
    expect(() => parseConfig('rtmpMaxMessageSize: 8 megabytes\n', 'x.yml', {})).toThrow(/x\.yml:1:\d+: rtmpMaxMessageSize: '8 megabytes' is not a size \(examples: 65536, 64K, 8M\)/);
    expect(() => parseConfig('rtmpMaxMessageSize: 16M\n', 'x.yml', {})).toThrow(/rtmpMaxMessageSize: '16M' is outside 65536\.\.16777215 bytes/);
    expect(() => parseConfig('rtmpMaxMessageSize: 1K\n', 'x.yml', {})).toThrow(/outside 65536\.\.16777215/);
  });
});
