/** Muxing scenarios shared by the ffmpeg and Chromium tests. */

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FragmentWriter, createInitSegment } from '../../../src/mux/fmp4/index.js';
import type { MuxTracks } from '../../../src/mux/fmp4/index.js';
import type { Frame, TrackKind } from '../../../src/stream/types.js';

export function minDts(frames: readonly Frame[]): number {
  return frames.reduce((m, f) => Math.min(m, f.dts), Infinity);
}

/** Init segment, then one fragment per frame in arrival order: the live default. */
export function muxPerFrame(tracks: MuxTracks, frames: readonly Frame[], originUs?: number): Uint8Array[] {
  const writer = new FragmentWriter({ ...tracks, originUs });
  const parts = [createInitSegment(tracks)];
  for (const f of frames) parts.push(writer.fragment(f.kind, [f]));
  return parts;
}

/** Fragments of up to `n` consecutive frames of one track, flushed when the run is full. */
export function muxRuns(tracks: MuxTracks, frames: readonly Frame[], n: number, originUs?: number): Uint8Array[] {
  const writer = new FragmentWriter({ ...tracks, originUs });
  const parts = [createInitSegment(tracks)];
  const pending = new Map<TrackKind, Frame[]>();
  for (const f of frames) {
    const run = pending.get(f.kind) ?? [];
    run.push(f);
    pending.set(f.kind, run);
    if (run.length === n) {
      parts.push(writer.fragment(f.kind, run));
      pending.delete(f.kind);
    }
  }
  for (const [kind, run] of pending) parts.push(writer.fragment(kind, run));
  return parts;
}

/** One moof per video frame carrying that frame plus the audio that arrived since the last one. */
export function muxMulti(tracks: MuxTracks, frames: readonly Frame[], originUs?: number): Uint8Array[] {
  const writer = new FragmentWriter({ ...tracks, originUs });
  const parts = [createInitSegment(tracks)];
  let audio: Frame[] = [];
  for (const f of frames) {
    if (f.kind === 'audio') {
      audio.push(f);
      continue;
    }
    const entries = [{ kind: 'video' as const, frames: [f] }];
    parts.push(writer.fragmentMulti(audio.length > 0 ? [...entries, { kind: 'audio', frames: audio }] : entries));
    audio = [];
  }
  if (audio.length > 0) parts.push(writer.fragment('audio', audio));
  return parts;
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.byteLength;
  }
  return out;
}

export function writeParts(dir: string, name: string, parts: readonly Uint8Array[]): string {
  const file = join(dir, name);
  writeFileSync(file, concat(parts));
  return file;
}
