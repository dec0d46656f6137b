import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/errors.js';
import { parseConfig } from '../../src/config/load.js';

function problems(text: string): string[] {
  try {
    parseConfig(text, 'mediamtx.yml', {});
    return [];
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    return err.message.split('\n');
  }
}

describe('HLS settings', () => {
  it('reads MediaMTX keys', () => {
    const config = parseConfig(
      'hlsVariant: fmp4\nhlsSegmentCount: 10\nhlsSegmentDuration: 2s\nhlsPartDuration: 500ms\nhlsSegmentMaxSize: 10M\nhlsAllowOrigins: [https://a.example]\nhlsAlwaysRemux: yes\nhlsMuxerCloseAfter: 5s\n',
      'x.yml',
      {},
    );
    expect(config).toMatchObject({
      hls: true,
      hlsVariant: 'fmp4',
      hlsSegmentCount: 10,
      hlsSegmentDuration: 2000,
      hlsPartDuration: 500,
      hlsSegmentMaxSize: 10 * 1024 * 1024,
      hlsAllowOrigins: ['https://a.example'],
      hlsAlwaysRemux: true,
      hlsMuxerCloseAfter: 5000,
      hlsDirectory: '',
    });
  });

  it.each([
    ['hlsVariant: mpegts', "mediamtx.yml:1:13: hlsVariant: 'mpegts' is not supported by Polycast: use lowLatency or fmp4 (fMP4 segments play in every HLS player since iOS 10)"],
    ['hlsDirectory: /var/hls', 'mediamtx.yml:1:15: hlsDirectory: is not supported: Polycast keeps HLS segments in memory only; leave it empty'],
    ['hlsSegmentCount: 2', 'mediamtx.yml:1:18: hlsSegmentCount: must be at least 3'],
    ['hlsPartDuration: 2s', 'mediamtx.yml:1:18: hlsPartDuration: is longer than hlsSegmentDuration (1000ms)'],
    ['hlsSegmentMaxSize: 1K', "mediamtx.yml:1:20: hlsSegmentMaxSize: '1K' is below the minimum of 65536 bytes"],
  ])('refuses %s', (text, expected) => {
    expect(problems(`${text}\n`)).toEqual([expected]);
  });
});
