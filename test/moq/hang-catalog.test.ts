/**
 * hang catalog entries for every codec of the stream model, checked against
 * @moq/hang's own schema, from the configuration records of real encoder
 * output (libx265, libsvtav1, libvpx-vp9, libopus).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { av1TrackInfo } from '../../src/codec/av1.js';
import { h265TrackInfo } from '../../src/codec/hevc.js';
import { opusHeadFromDops, opusTrackInfo } from '../../src/codec/opus.js';
import { vp9TrackInfo } from '../../src/codec/vp9.js';
import { buildCatalog } from '../../transports/moq/hang.js';
import { makeTempDir } from '../codec/helpers.js';
import { encodeClip } from '../helpers/ertmp-publisher.js';
import { importBundled } from './bundle.js';

let hang: { RootSchema: { parse(v: unknown): unknown } };
let dir: string;
let cleanup: () => Promise<void>;

beforeAll(async () => {
  hang = await importBundled("export { RootSchema } from '@moq/hang/catalog';");
  ({ dir, cleanup } = await makeTempDir());
});
afterAll(async () => cleanup?.());

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

describe('hang catalog for HEVC, AV1, VP9 and Opus', () => {
  it('describes each codec with its WebCodecs codec string and record, in a form the hang schema accepts', async () => {
    const hevc = await encodeClip(dir, 'hang-hevc', { video: 'hevc', audio: 'opus', size: '320x240', seconds: 0.4 });
    const av1 = await encodeClip(dir, 'hang-av1', { video: 'av1', size: '320x240', seconds: 0.4 });
    const vp9 = await encodeClip(dir, 'hang-vp9', { video: 'vp9', size: '320x240', seconds: 0.4 });
    const opus = opusTrackInfo(opusHeadFromDops(hevc.audio!.configs.get('dOps')!));
    const cases = [
      { video: h265TrackInfo(hevc.video!.configs.get('hvcC')!), description: hex(hevc.video!.configs.get('hvcC')!) },
      { video: av1TrackInfo(av1.video!.configs.get('av1C')!), description: hex(av1.video!.configs.get('av1C')!) },
      // VP9 configures WebCodecs without a description.
      { video: vp9TrackInfo(vp9.video!.configs.get('vpcC')!, vp9.video!.samples[0]!.data), description: undefined },
    ];
    for (const c of cases) {
      const catalog = JSON.parse(JSON.stringify(buildCatalog({ path: 'live/x', video: c.video, audio: opus }))) as Record<string, unknown>;
      expect(hang.RootSchema.parse(catalog)).toEqual(catalog);
      expect(catalog).toEqual({
        video: { renditions: { video: { codec: c.video.codecString, container: { kind: 'legacy' }, ...(c.description ? { description: c.description } : {}), codedWidth: 320, codedHeight: 240, optimizeForLatency: true } } },
        audio: { renditions: { audio: { codec: 'opus', container: { kind: 'legacy' }, description: hex(opus.opusHead), sampleRate: 48000, numberOfChannels: 2 } } },
      });
    }
  });
});
