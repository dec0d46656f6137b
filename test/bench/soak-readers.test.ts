import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeSection } from '../../bench/soak-report.js';
import { ThrottledReader } from '../../bench/throttled-reader.js';
import { WtReader } from '../../bench/wt-reader.js';
import { publish, type Publisher } from '../helpers/ffmpeg.js';
import { waitFor } from '../helpers/ops.js';
import { startServer, type TestServer } from '../helpers/server.js';

let srv: TestServer;
let publisher: Publisher;

beforeAll(async () => {
  srv = await startServer('paths:\n  all_others:\n', { webTransport: true });
  publisher = publish(srv.rtmpUrl('live/soak'), { size: '320x180', gop: 15 });
});

afterAll(async () => {
  await publisher?.stop();
  await srv?.stop();
});

describe('soak readers on a real Polycast', () => {
  it('wt-fmp4: the lean WebTransport reader checks the certificate hash and counts video by GOP', async () => {
    const hash = (await (await fetch(srv.httpUrl('/certificate.sha256'))).text()).trim();
    const keyframes: boolean[] = [];
    const control: unknown[] = [];
    const reader = new WtReader(
      { host: '127.0.0.1', port: srv.webPort, path: '/live/soak/wt/fmp4', certificateSha256: hash },
      { video: (_r, first) => keyframes.push(first), control: (_r, m) => control.push(m.type) },
    );
    try {
      await waitFor(() => reader.groups >= 3 && reader.videoFrames >= 40, 20_000, 'three GOPs on the WebTransport reader');
      expect(reader.state).toBe('open');
      // The reader may connect before ffmpeg has started publishing: then 'offline' comes between the two.
      expect(control.filter((t) => t !== 'offline').slice(0, 2)).toEqual(['hello', 'init']);
      expect(reader.inits).toBeGreaterThanOrEqual(1);
      // Every group starts with its keyframe; audio is counted apart from video.
      expect(keyframes.filter((k) => k).length).toBeGreaterThanOrEqual(reader.groups - 1);
      expect(reader.audioFrames).toBeGreaterThan(0);
    } finally {
      reader.close();
    }
    const wrong = new WtReader({ host: '127.0.0.1', port: srv.webPort, path: '/live/soak/wt/fmp4', certificateSha256: '00'.repeat(32) });
    await waitFor(() => wrong.state !== 'connecting', 10_000, 'the wrong-hash session to end');
    expect(wrong.state).toBe('failed');
    expect(wrong.error).toMatch(/certificate hash/);
  });

  it('ws-fmp4: the throttled RTWebSocket reader reads at its rate and stays connected', async () => {
    const bitsPerSecond = 200_000;
    const reader = new ThrottledReader({ host: '127.0.0.1', port: srv.webPort, path: '/live/soak/ws/fmp4', bitsPerSecond });
    try {
      await waitFor(() => reader.videoFrames >= 10, 20_000, 'video on the throttled reader');
      const start = { bytes: reader.bytesRead, at: performance.now() };
      await new Promise((r) => setTimeout(r, 3000));
      const rate = ((reader.bytesRead - start.bytes) * 8) / ((performance.now() - start.at) / 1000);
      expect(reader.state).toBe('open');
      expect(reader.inits).toBeGreaterThanOrEqual(1);
      // The bucket may run a burst ahead; never far above the rate it was given.
      expect(rate).toBeLessThan(bitsPerSecond * 1.5);
    } finally {
      reader.close();
    }
  });
});

describe('soak report section', () => {
  it('replaces only the ## Soak section and keeps what surrounds it', () => {
    const dir = mkdtempSync(join(tmpdir(), 'soak-section-'));
    try {
      const file = join(dir, 'robustness.md');
      writeSection(file, '## Soak\n\nfirst\n');
      expect(readFileSync(file, 'utf8')).toBe('# Robustness\n\n## Soak\n\nfirst\n');
      writeFileSync(file, '# Robustness\n\n## Fuzzing\n\nkeep me\n\n## Soak\n\nold\n\n## Later\n\nkeep me too\n');
      writeSection(file, '## Soak\n\nnew\n');
      expect(readFileSync(file, 'utf8')).toBe('# Robustness\n\n## Fuzzing\n\nkeep me\n\n## Soak\n\nnew\n\n## Later\n\nkeep me too\n');
      writeFileSync(file, '# Robustness\n\n## Fuzzing\n\nkeep me\n');
      writeSection(file, '## Soak\n\nappended\n');
      expect(readFileSync(file, 'utf8')).toBe('# Robustness\n\n## Fuzzing\n\nkeep me\n\n## Soak\n\nappended\n');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
