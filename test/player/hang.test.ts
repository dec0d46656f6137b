import { describe, expect, it } from 'vitest';
import type { AacTrackInfo, Frame, H264TrackInfo } from '../../src/stream/types.js';
import { buildCatalog, legacyPayload } from '../../transports/moq/hang.js';
import { decodeAnnounceRequest, LiteVersion, StreamType } from '../../transports/moq/messages.js';
import { MessageReader } from '../../transports/moq/wire.js';
import { decodeLegacyFrame, parseCatalog } from '../../public/src/transports/webtransport/hang.js';
import { encodeAnnounceRequest, encodeVarint, MOQ_LITE_03, MOQ_LITE_04 } from '../../public/src/transports/webtransport/rtt-probe.js';

const AVCC = Uint8Array.from([1, 0x64, 0, 0x1f, 0xff, 0xe1, 0, 0]);
const ASC = Uint8Array.from([0x11, 0x90]);
const video: H264TrackInfo = { kind: 'video', codec: 'h264', codecString: 'avc1.64001f', width: 1280, height: 720, avcC: AVCC, sps: [], pps: [], nalLengthSize: 4 };
const audio: AacTrackInfo = { kind: 'audio', codec: 'aac', codecString: 'mp4a.40.2', sampleRate: 48000, channels: 2, samplesPerFrame: 1024, asc: ASC };

describe('hang, as the server builds it', () => {
  it('turns the server’s catalog into decoder configurations', () => {
    const catalog = parseCatalog(JSON.parse(JSON.stringify(buildCatalog({ path: 'live/cam', video, audio }))));
    expect(catalog.skipped).toEqual([]);
    expect(catalog.video).toEqual({ track: 'video', init: { codec: 'avc1.64001f', codedWidth: 1280, codedHeight: 720, description: AVCC } });
    expect(catalog.audio).toEqual({ track: 'audio', init: { codec: 'mp4a.40.2', sampleRate: 48000, numberOfChannels: 2, description: ASC } });
    const soundOnly = parseCatalog(JSON.parse(JSON.stringify(buildCatalog({ path: 'live/cam', audio }))));
    expect(soundOnly.video).toBeNull();
    expect(soundOnly.audio?.track).toBe('audio');
  });

  it('passes over renditions it cannot play, saying why', () => {
    const catalog = parseCatalog({
      video: {
        renditions: {
          cmaf: { codec: 'avc1.64001f', container: { kind: 'cmaf' }, description: '00', codedWidth: 2, codedHeight: 2 },
          hevc: { codec: 'hvc1.1.6.L93.B0', container: 'legacy', codedWidth: 2, codedHeight: 2 },
          ok: { codec: 'avc1.42c01e', description: '0142c01e', codedWidth: 640, codedHeight: 360 },
        },
      },
      audio: { renditions: { opus: { codec: 'opus', container: { kind: 'legacy' } } } },
    });
    expect(catalog.video?.track).toBe('ok');
    expect(catalog.audio).toBeNull();
    expect(catalog.skipped).toEqual(['video cmaf: container cmaf', 'video hevc: not H.264 with an avcC description', 'audio opus: incomplete']);
    expect(parseCatalog(null)).toEqual({ video: null, audio: null, skipped: [] });
  });

  it('reads legacy frames: varint µs timestamp, then the payload', () => {
    for (const us of [0, 63, 64, 16_383, 16_384, 1_073_741_823, 1_073_741_824, 86_400_000_000]) {
      const frame: Frame = { kind: 'video', dts: us, pts: us, key: true, data: Uint8Array.of(9, 8), receivedAt: 0 };
      const decoded = decodeLegacyFrame(legacyPayload(frame));
      expect(decoded?.timestampUs).toBe(us);
      expect([...decoded!.payload]).toEqual([9, 8]);
    }
    // An empty payload is a marker, not a frame.
    expect(decodeLegacyFrame(Uint8Array.of(5))).toBeNull();
    expect(decodeLegacyFrame(new Uint8Array(0))).toBeNull();
  });

  it('writes the RTT probe’s ANNOUNCE_REQUEST the way the server reads it', () => {
    for (const [protocol, version] of [
      [MOQ_LITE_04, LiteVersion.DRAFT_04],
      [MOQ_LITE_03, LiteVersion.DRAFT_03],
    ] as const) {
      const bytes = encodeAnnounceRequest('live/cam1', protocol);
      expect(bytes[0]).toBe(StreamType.Announce);
      const length = bytes[1]!;
      expect(bytes.length).toBe(2 + length);
      expect(decodeAnnounceRequest(new MessageReader(bytes.subarray(2), 'announce'), version)).toMatchObject({ prefix: 'live/cam1' });
    }
    expect([...encodeVarint(37)]).toEqual([37]);
    expect([...encodeVarint(15_293)]).toEqual([0x7b, 0xbd]);
    expect([...encodeVarint(494_878_333)]).toEqual([0x9d, 0x7f, 0x3e, 0x7d]);
  });
});
