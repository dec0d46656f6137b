/**
 * One session's reader of one Polycast path in the shape MediaMTX's clients
 * read (its `moqt://` source and its MoQ reader page), for sessions opened at
 * `/<path>`: a `.catalog` track listing the tracks by index (`"0"`, `"1"`),
 * H.264 and HEVC as `avc3`/`hev1` with the parameter sets in band in every
 * keyframe, LOC timestamps in the track's clock rate, and every frame its own
 * group: one subgroup stream holding the frame's object and an END_OF_GROUP
 * object, group IDs counting up by one per stream sent (MediaMTX's readers
 * reorder by them and read each stream to that end marker).
 *
 * MediaMTX's readers treat a reset stream as the end of the session, so a
 * frame stream, once opened, is never reset: a subscriber that falls behind
 * has frames skipped before they get a stream (video up to the next
 * keyframe), and what it holds is bounded by `maxInFlight` frames and
 * `maxQueuedBytes` per track.
 */
import { randomBytes } from 'node:crypto';
import { forEachNal, NalType } from '../../src/codec/h264.js';
import { HevcNalType, hevcNalTypeOfByte } from '../../src/codec/hevc.js';
import { buildMediaMtxCatalog, clockRateOf, MEDIAMTX_CATALOG_TRACK, mediaMtxTracks } from '../../src/protocols/moqt/msf.js';
import { encodeEndOfGroup, encodeObject, encodeSubgroupHeader } from '../../src/protocols/moqt/objects.js';
import { usesLeadingOnes, type MoqtDraft } from '../../src/protocols/moqt/version.js';
import type { SendStream } from '../../src/protocols/stream-session.js';
import type { UniStreamOpener } from '../../src/protocols/webtransport/group-sender.js';
import { GopCache } from '../../src/stream/gop-cache.js';
import type { Path } from '../../src/stream/path.js';
import { Reader, type ReaderSink } from '../../src/stream/reader.js';
import { serializeOnce, type Frame, type StreamDescription, type VideoTrackInfo } from '../../src/stream/types.js';

export type MediaMtxRole = 'catalog' | 'video' | 'audio';

/** A joining subscriber gets the GOP so far when it is this short; otherwise it starts at the next keyframe (as MediaMTX's own server always does), to spare it a burst of streams. */
const MAX_JOIN_FRAMES = 32;
const URGENCY: Record<MediaMtxRole, number> = { catalog: 0, audio: 1, video: 3 };

export interface FrameSubscriptionOptions {
  readonly session: UniStreamOpener;
  readonly draft: MoqtDraft;
  readonly requestId: number;
  /** MediaMTX's clients expect the alias to be the Request ID (its reader page matches streams by it). */
  readonly alias: number;
  readonly role: MediaMtxRole;
  readonly maxInFlight?: number;
  readonly maxQueuedBytes?: number;
}

/** One SUBSCRIBE of a MediaMTX-shaped session: a stream per frame (or per catalog). */
export class FrameSubscription {
  /** Streams opened (one group each). */
  groups = 0;
  /** Frames skipped because the subscriber was behind. */
  dropped = 0;
  private nextGroup = 0;
  private inFlight = 0;
  private queuedBytes = 0;
  /** Video waits for a keyframe (at the start, and after frames were skipped). */
  private needKey: boolean;
  private readonly open = new Set<SendStream>();
  private closed = false;
  /** The catalog is sent once per subscription: MediaMTX's readers read one. */
  catalogSent = false;

  constructor(private readonly o: FrameSubscriptionOptions) {
    this.needKey = o.role === 'video';
  }

  get requestId(): number {
    return this.o.requestId;
  }

  get alias(): number {
    return this.o.alias;
  }

  get role(): MediaMtxRole {
    return this.o.role;
  }

  get waitingForKey(): boolean {
    return this.needKey;
  }

  /** Sends one group: `object` is the encoded object and its END_OF_GROUP marker. */
  send(object: Uint8Array, key: boolean): void {
    if (this.closed) return;
    if (this.needKey && !key) return;
    if (this.inFlight >= (this.o.maxInFlight ?? 48) || this.queuedBytes + object.byteLength > (this.o.maxQueuedBytes ?? 4 * 1024 * 1024)) {
      this.dropped++;
      if (this.o.role === 'video') this.needKey = true;
      return;
    }
    this.needKey = false;
    const header = encodeSubgroupHeader(this.o.draft, { alias: this.o.alias, group: this.nextGroup++, properties: this.o.role !== 'catalog' });
    const bytes = new Uint8Array(header.byteLength + object.byteLength);
    bytes.set(header);
    bytes.set(object, header.byteLength);
    this.groups++;
    this.inFlight++;
    this.queuedBytes += bytes.byteLength;
    let settled = false;
    const settle = (stream?: SendStream): void => {
      if (settled) return;
      settled = true;
      this.inFlight--;
      this.queuedBytes -= bytes.byteLength;
      if (stream !== undefined) this.open.delete(stream);
    };
    this.o.session.createUniStream({ urgency: URGENCY[this.o.role] }).then(
      (stream) => {
        if (this.closed) {
          stream.abort(0);
          settle();
          return;
        }
        this.open.add(stream);
        stream.write(bytes).catch(() => {});
        stream.end().then(
          () => settle(stream),
          () => settle(stream),
        );
      },
      () => settle(),
    );
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    for (const stream of this.open) {
      try {
        stream.abort(0);
      } catch {
        // Already gone.
      }
    }
    this.open.clear();
  }
}

export class MediaMtxView implements ReaderSink {
  readonly id = randomBytes(4).toString('hex');
  readonly reader: Reader;
  readonly subscriptions = new Set<FrameSubscription>();
  /** Audio objects flush with the video frame's: one visit, one flush, shared packets. */
  readonly audioRidesWithVideo = true;
  private readonly cache = new GopCache();
  private description: StreamDescription | undefined;
  private catalogObject: Uint8Array | undefined;
  /** What the catalog sent to this session promised, beyond what in-band parameter sets may change. */
  private promised: string | undefined;

  constructor(
    readonly path: Path,
    private readonly draft: MoqtDraft,
    remoteAddress: string,
    queueSize: number,
    /** The stream's tracks no longer match the catalog the client read: it has to start over. */
    private readonly tracksChanged: (reason: string) => void,
  ) {
    this.reader = new Reader({ id: this.id, protocol: 'moqt', remoteAddress }, this, queueSize);
  }

  /** What a track name of this session is: `.catalog`, or a catalog index; undefined when there is no such track (yet). */
  roleOf(track: string): MediaMtxRole | undefined {
    if (track === MEDIAMTX_CATALOG_TRACK) return 'catalog';
    if (!/^(0|[1-9][0-9]?)$/.test(track) || this.description === undefined) return undefined;
    return mediaMtxTracks(this.description)[Number(track)]?.kind;
  }

  /** The units of the LOC timestamps of a role (for SUBSCRIBE_OK's TIMESCALE). */
  timescaleOf(role: MediaMtxRole): number {
    const track = role === 'catalog' ? undefined : this.description?.[role];
    return track === undefined ? 1_000_000 : clockRateOf(track);
  }

  add(sub: FrameSubscription): void {
    this.subscriptions.add(sub);
    if (sub.role === 'catalog') {
      this.sendCatalog(sub);
      return;
    }
    if (sub.role !== 'video') return;
    const gop = this.cache.snapshot().filter((f) => f.kind === 'video');
    if (gop.length === 0 || gop.length > MAX_JOIN_FRAMES || !gop[0]!.key) return;
    for (const frame of gop) sub.send(this.objectOf(frame), frame.key);
  }

  remove(sub: FrameSubscription): void {
    this.subscriptions.delete(sub);
    sub.close();
  }

  writable(): boolean {
    return true;
  }

  write(frame: Frame): void {
    this.cache.add(frame);
    let object: Uint8Array | undefined;
    for (const sub of this.subscriptions) {
      if (sub.role !== frame.kind) continue;
      if (sub.waitingForKey && !frame.key) continue;
      object ??= this.objectOf(frame);
      sub.send(object, frame.key);
    }
  }

  describe(description: StreamDescription): void {
    if (description.video !== this.description?.video) this.cache.clear();
    this.description = description;
    const catalog = buildMediaMtxCatalog(description);
    this.catalogObject = concat(encodeObject(this.draft, new TextEncoder().encode(JSON.stringify(catalog))), encodeEndOfGroup(this.draft, false));
    const shape = shapeOf(description);
    if (this.promised !== undefined && shape !== this.promised) {
      this.tracksChanged('the stream\'s tracks changed: subscribe again to read the new catalog');
      return;
    }
    for (const sub of this.subscriptions) if (sub.role === 'catalog') this.sendCatalog(sub);
  }

  offline(): void {
    this.cache.clear();
  }

  close(): void {
    for (const sub of this.subscriptions) sub.close();
    this.subscriptions.clear();
    this.cache.clear();
  }

  private sendCatalog(sub: FrameSubscription): void {
    if (sub.catalogSent || this.catalogObject === undefined || this.description === undefined) return;
    sub.catalogSent = true;
    this.promised = shapeOf(this.description);
    sub.send(this.catalogObject, true);
  }

  /** A frame as MediaMTX sends it: the object (timestamp in the track's clock rate) and the END_OF_GROUP marker; built once per encoding. */
  private objectOf(frame: Frame): Uint8Array {
    const track = frame.kind === 'video' ? this.description?.video : this.description?.audio;
    const rate = track === undefined ? 1_000_000 : clockRateOf(track);
    const key = `moqt-mtx:${usesLeadingOnes(this.draft) ? 'lo' : 'quic'}:${rate}`;
    return serializeOnce(frame, key, (f) => {
      const payload = f.kind === 'video' && track?.kind === 'video' ? inBandPayload(f, track) : f.data;
      const timestamp = Math.max(0, Math.round((f.pts * rate) / 1_000_000));
      return concat(encodeObject(this.draft, payload, timestamp), encodeEndOfGroup(this.draft, true));
    });
  }
}

/**
 * The catalog's promise that in-band parameter sets cannot update: the
 * tracks, their order and codecs (H.264 and HEVC by codec only: a new SPS
 * comes in band), and every audio field.
 */
function shapeOf(desc: StreamDescription): string {
  return JSON.stringify(
    mediaMtxTracks(desc).map((t) => (t.kind === 'video' && (t.codec === 'h264' || t.codec === 'h265') ? t.codec : buildMediaMtxCatalog({ path: '', ...(t.kind === 'video' ? { video: t } : { audio: t }) }).tracks[0])),
  );
}

const H264_PARAMETER_SETS: ReadonlySet<number> = new Set([NalType.sps, NalType.pps]);
const HEVC_PARAMETER_SETS: ReadonlySet<number> = new Set([HevcNalType.vps, HevcNalType.sps, HevcNalType.pps]);

/**
 * A video frame as MediaMTX's readers take it: 4-byte NAL lengths, and for
 * H.264 and HEVC keyframes the track's parameter sets first (VPS, SPS, PPS),
 * unless the frame carries its own.
 */
function inBandPayload(frame: Frame, track: VideoTrackInfo): Uint8Array {
  if (track.codec !== 'h264' && track.codec !== 'h265') return frame.data;
  const h264 = track.codec === 'h264';
  const typeOf = h264 ? (b: number) => b & 0x1f : hevcNalTypeOfByte;
  const sets = h264 ? H264_PARAMETER_SETS : HEVC_PARAMETER_SETS;
  const nals: Uint8Array[] = [];
  let hasSets = false;
  try {
    forEachNal(frame.data, track.nalLengthSize, (nal) => {
      if (sets.has(typeOf(nal[0]!))) hasSets = true;
      nals.push(nal);
    });
  } catch {
    return frame.data; // Malformed framing: sent as it came, as every other transport does.
  }
  if (frame.key && !hasSets) {
    // After a leading access unit delimiter, which must stay first.
    const at = nals.length > 0 && typeOf(nals[0]![0]!) === (h264 ? NalType.aud : HevcNalType.aud) ? 1 : 0;
    nals.splice(at, 0, ...(track.codec === 'h265' ? track.vps : []), ...track.sps, ...track.pps);
  } else if (track.nalLengthSize === 4) return frame.data;
  return lengthPrefixed(nals);
}

function lengthPrefixed(nals: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(nals.reduce((n, nal) => n + 4 + nal.byteLength, 0));
  const view = new DataView(out.buffer);
  let p = 0;
  for (const nal of nals) {
    view.setUint32(p, nal.byteLength);
    out.set(nal, p + 4);
    p += 4 + nal.byteLength;
  }
  return out;
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.byteLength + b.byteLength);
  out.set(a);
  out.set(b, a.byteLength);
  return out;
}
