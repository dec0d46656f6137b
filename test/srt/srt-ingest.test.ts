/**
 * SRT ingest end to end: real callers (ffmpeg's libsrt, and libsrt's own
 * srt-live-transmit) publish MPEG-TS to a real server; ws-nal readers get
 * the frames, and ffmpeg decodes what they got.
 */
import { execFileSync } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { parseConfig } from '../../src/config/load.js';
import { NalClient } from '../helpers/nal-client.js';
import { freePort } from '../helpers/ports.js';
import { startServer, type TestServer } from '../helpers/server.js';
import { decodeH264 } from './decode.js';
import { startLossyRelay, type LossyRelay } from './lossy-relay.js';
import { ffmpegSrt, srtLiveTransmit, type SrtCaller } from './srt-caller.js';

let server: TestServer | undefined;
const callers: SrtCaller[] = [];
const clients: NalClient[] = [];
const relays: LossyRelay[] = [];

afterEach(async () => {
  for (const c of callers.splice(0)) await c.stop();
  for (const c of clients.splice(0)) c.close();
  for (const r of relays.splice(0)) await r.close();
  await server?.stop();
  server = undefined;
});

const PASSPHRASE = 'correct horse battery';
const CONFIG = `
authInternalUsers:
  - user: any
    permissions: [{ action: read }, { action: publish, path: ~^(live|secret)/ }]
  - user: studio
    pass: s3cret
    permissions: [{ action: publish, path: ~^studio/ }]
paths:
  secret/cam:
    srtPublishPassphrase: ${PASSPHRASE}
  all_others:
`;

async function srtServer(): Promise<{ s: TestServer; port: number }> {
  const port = await freePort();
  server = await startServer(`srt: yes\nsrtAddress: 127.0.0.1:${port}\nreadTimeout: 3s\n${CONFIG}`);
  return { s: server, port };
}

async function watch(s: TestServer, path: string): Promise<NalClient> {
  const c = new NalClient(s.wsUrl(path));
  clients.push(c);
  await c.opened;
  return c;
}

function caller(c: SrtCaller): SrtCaller {
  callers.push(c);
  return c;
}

async function until(predicate: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const logged = (s: TestServer, msg: string, test: (l: Record<string, unknown>) => boolean = () => true) => s.logs.some((l) => l['msg'] === msg && test(l));

const hasSrtLiveTransmit = (() => {
  try {
    execFileSync('srt-live-transmit', ['-version'], { stdio: 'ignore' });
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ENOENT';
  }
})();

describe('SRT ingest', () => {
  it('carries H.264 and AAC from ffmpeg to a reader, and ffmpeg decodes every frame it got', async () => {
    const { s, port } = await srtServer();
    const reader = await watch(s, 'live/x');
    caller(ffmpegSrt(port, { streamId: 'publish:live/x' }));
    await reader.until(() => reader.video.length >= 75 && reader.audio.length >= 100, 20_000, '3 s of video and audio');
    const init = reader.texts('init')[0];
    expect(JSON.stringify(init)).toMatch(/avc1\.[0-9a-f]{6}/);
    expect(JSON.stringify(init)).toContain('mp4a.40.2');
    const decoded = decodeH264(reader.video);
    expect(decoded.errors).toBe('');
    expect(decoded.frames).toBeGreaterThanOrEqual(70);
    const conns = s.server.srtIngest!.connections();
    expect(conns).toHaveLength(1);
    expect(conns[0]).toMatchObject({ path: 'live/x', state: 'publish' });
  }, 40_000);

  it('accepts the passphrase of the path across key rotations, refuses a wrong one and a caller without one', async () => {
    const { s, port } = await srtServer();
    const wrong = caller(ffmpegSrt(port, { streamId: 'publish:secret/cam', passphrase: 'not the passphrase' }));
    expect(await wrong.exited).not.toBe(0);
    expect(logged(s, 'SRT publish refused', (l) => l['reason'] === 'wrong passphrase')).toBe(true);
    const none = caller(ffmpegSrt(port, { streamId: 'publish:secret/cam' }));
    expect(await none.exited).not.toBe(0);
    expect(logged(s, 'SRT publish refused', (l) => String(l['reason']).includes('needs a passphrase'))).toBe(true);
    const unasked = caller(ffmpegSrt(port, { streamId: 'publish:live/open', passphrase: PASSPHRASE }));
    expect(await unasked.exited).not.toBe(0);
    expect(logged(s, 'SRT publish refused', (l) => String(l['reason']).includes('takes no passphrase'))).toBe(true);

    const reader = await watch(s, 'secret/cam');
    // A new stream key every 100 packets (announced 40 ahead): several rotations in the frames awaited.
    caller(ffmpegSrt(port, { streamId: 'publish:secret/cam', passphrase: PASSPHRASE, urlOptions: 'kmrefreshrate=100&kmpreannounce=40' }));
    await reader.until(() => reader.video.length >= 125, 20_000, '5 s of decrypted video');
    const decoded = decodeH264(reader.video);
    expect(decoded.errors).toBe('');
    expect(decoded.frames).toBeGreaterThanOrEqual(120);
    const [conn] = s.server.srtIngest!.connections();
    expect(conn!.inboundBytes).toBeGreaterThan(0);
    expect(s.server.srtIngest!.drops().get('encrypted packet with a key the caller did not provide')).toBeUndefined();
    expect(logged(s, 'SRT publisher connected', (l) => l['encrypted'] === true)).toBe(true);
  }, 60_000);

  it('decides the publish with the server authentication: credentials in either stream id form', async () => {
    const { s, port } = await srtServer();
    const anonymous = caller(ffmpegSrt(port, { streamId: 'publish:studio/a' }));
    expect(await anonymous.exited).not.toBe(0);
    expect(logged(s, 'SRT publish refused', (l) => String(l['reason']).startsWith('authentication required'))).toBe(true);
    const wrong = caller(ffmpegSrt(port, { streamId: 'publish:studio/a:studio:nope' }));
    expect(await wrong.exited).not.toBe(0);
    expect(logged(s, 'SRT publish refused', (l) => String(l['reason']).includes('wrong credentials'))).toBe(true);
    const reading = caller(ffmpegSrt(port, { streamId: 'read:live/x' }));
    expect(await reading.exited).not.toBe(0);
    expect(logged(s, 'SRT publish refused', (l) => String(l['reason']).startsWith('reading over SRT is not supported'))).toBe(true);

    const a = await watch(s, 'studio/a');
    caller(ffmpegSrt(port, { streamId: 'publish:studio/a:studio:s3cret' }));
    const b = await watch(s, 'studio/b');
    caller(ffmpegSrt(port, { streamId: '#!::r=studio/b,m=publish,u=studio,s=s3cret' }));
    await a.until(() => a.video.length >= 10, 20_000, 'video on studio/a');
    await b.until(() => b.video.length >= 10, 20_000, 'video on studio/b');
  }, 60_000);

  it('refuses a second publisher on a live path with the reason', async () => {
    const { s, port } = await srtServer();
    const reader = await watch(s, 'live/one');
    caller(ffmpegSrt(port, { streamId: 'publish:live/one' }));
    await reader.until(() => reader.video.length >= 10, 20_000, 'the first publisher');
    const second = caller(ffmpegSrt(port, { streamId: 'publish:live/one' }));
    expect(await second.exited).not.toBe(0);
    expect(logged(s, 'SRT publish refused', (l) => String(l['reason']).includes('already has a publisher'))).toBe(true);
    const before = reader.video.length;
    await reader.until(() => reader.video.length >= before + 10, 10_000, 'the first publisher going on');
  }, 40_000);

  it('frees the path when the caller is killed without a shutdown, within readTimeout', async () => {
    const { s, port } = await srtServer();
    const reader = await watch(s, 'live/k');
    const first = caller(ffmpegSrt(port, { streamId: 'publish:live/k' }));
    await reader.until(() => reader.video.length >= 10, 20_000, 'video');
    first.child.kill('SIGKILL');
    await until(() => logged(s, 'SRT publisher disconnected', (l) => String(l['reason']).startsWith('no packet from the caller')), 'the idle timeout', 10_000);
    await reader.until(() => reader.texts('offline').length >= 2, 5_000, 'the reader told the publisher left');
    const frames = reader.video.length;
    caller(ffmpegSrt(port, { streamId: 'publish:live/k' }));
    await reader.until(() => reader.video.length >= frames + 10, 20_000, 'the next publisher on the freed path');
  }, 40_000);

  it('recovers lost and reordered packets: a relay losing 5 % still delivers a stream ffmpeg decodes cleanly', async () => {
    const { s, port } = await srtServer();
    const relay = await startLossyRelay(port, { loss: 0.05, reorder: 0.05, backLoss: 0.02 });
    relays.push(relay);
    const reader = await watch(s, 'live/lossy');
    caller(ffmpegSrt(relay.port, { streamId: 'publish:live/lossy', latencyMs: 300 }));
    await reader.until(() => reader.video.length >= 100, 30_000, '4 s of video through the lossy relay');
    const decoded = decodeH264(reader.video);
    expect(decoded.errors).toBe('');
    expect(decoded.frames).toBeGreaterThanOrEqual(95);
    const [conn] = s.server.srtIngest!.connections();
    expect(relay.stats.dropped).toBeGreaterThan(10);
    expect(conn!.packetsLost).toBeGreaterThan(0);
    expect(conn!.packetsRecovered).toBeGreaterThan(0);
  }, 50_000);

  it('describes HEVC and Opus from MPEG-TS: an hvcC built from the in-band VPS/SPS/PPS, an Opus head from the PMT', async () => {
    const { s, port } = await srtServer();
    caller(ffmpegSrt(port, { streamId: 'publish:live/hevc', video: 'hevc', audio: 'opus' }));
    const stream = () => s.server.paths.get('live/hevc')?.stream ?? null;
    await until(() => (stream()?.stats.framesIn ?? 0) >= 100, 'HEVC and Opus frames', 30_000);
    const { video, audio } = stream()!.description;
    expect(video).toMatchObject({ codec: 'h265', width: 320, height: 240 });
    expect(video!.codecString).toMatch(/^hvc1\.1\.6\.L\d+\.[0-9A-F]{1,2}$/);
    // lavfi's sine is mono: 1 comes from the PMT's extension descriptor (without one, 2 would be assumed).
    expect(audio).toMatchObject({ codec: 'opus', channels: 1, sampleRate: 48000 });
  }, 40_000);

  it('starts and stops the listener on a configuration change, and tells its publishers on shutdown', async () => {
    const port = await freePort();
    server = await startServer('paths:\n  all_others:\n');
    expect(server.server.srtIngest).toBeUndefined();
    const next = (srt: string) => parseConfig(`logLevel: debug\nrtmpAddress: 127.0.0.1:${server!.rtmpPort}\nwebAddress: 127.0.0.1:${server!.webPort}\nwebTransport: no\n${srt}paths:\n  all_others:\n`, 'test.yml', {});
    // All interfaces: a dual-stack socket, which sees the IPv4 caller as ::ffff:127.0.0.1.
    await server.server.applyConfig(next(`srt: yes\nsrtAddress: :${port}\n`));
    expect(server.server.listening?.srt).toBe(port);
    const reader = await watch(server, 'live/r');
    const publisher = caller(ffmpegSrt(port, { streamId: 'publish:live/r' }));
    await reader.until(() => reader.video.length >= 10, 20_000, 'video after srt: yes');
    await server.server.applyConfig(next('srt: no\n'));
    expect(server.server.srtIngest).toBeUndefined();
    expect(logged(server, 'SRT publisher disconnected', (l) => l['reason'] === 'srt: no')).toBe(true);
    // The caller stops: it was sent SHUTDOWN (and would otherwise give up at its own peer timeout).
    expect(await publisher.exited).not.toBe(0);
  }, 40_000);

  it('refuses to start on a UDP port already taken, naming the setting', async () => {
    const { port } = await srtServer();
    await expect(startServer(`srt: yes\nsrtAddress: 127.0.0.1:${port}\npaths:\n  all_others:\n`)).rejects.toThrow(
      `SRT listener: UDP address 127.0.0.1:${port} is already in use (set srtAddress in the config, or stop the other process)`,
    );
  });

  it('gives hooks SRT_PORT: a runOnInit publishes its path over SRT', async () => {
    const port = await freePort();
    const command =
      "ffmpeg -hide_banner -loglevel error -re -f lavfi -i testsrc2=size=320x240:rate=25 -c:v libx264 -preset ultrafast -tune zerolatency -pix_fmt yuv420p -g 25 -f mpegts \"srt://127.0.0.1:$SRT_PORT?streamid=publish:$MTX_PATH\"";
    server = await startServer(`srt: yes\nsrtAddress: 127.0.0.1:${port}\npaths:\n  hooked:\n    runOnInit: ${JSON.stringify(command)}\n`);
    const reader = await watch(server, 'hooked');
    await reader.until(() => reader.video.length >= 10, 20_000, 'video from the runOnInit publisher');
    expect(logged(server, 'SRT publisher connected', (l) => l['path'] === 'hooked')).toBe(true);
  }, 40_000);

  it.skipIf(!hasSrtLiveTransmit)('takes a stream from srt-live-transmit, libsrt’s own caller', async () => {
    const { s, port } = await srtServer();
    const reader = await watch(s, 'live/slt');
    caller(srtLiveTransmit(port, { streamId: 'publish:live/slt' }));
    await reader.until(() => reader.video.length >= 50 && reader.audio.length >= 50, 20_000, 'video and audio');
    const decoded = decodeH264(reader.video);
    expect(decoded.errors).toBe('');
    expect(decoded.frames).toBeGreaterThanOrEqual(45);
  }, 40_000);
});
