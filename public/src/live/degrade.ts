/**
 * When the network cannot carry live video, step down rather than stall:
 * first keyframes only (far fewer bytes, same connection), and if that does
 * not help within a few seconds, JPEG snapshots. Trouble is a round trip
 * above a limit, or latency that keeps growing, each held for a while, so a
 * single slow ping does not count. There is no way back up from here: a
 * network that recovers is indistinguishable from one that recovers for a
 * moment, and switching back and forth is worse than either mode, so only
 * the viewer's "retry video" returns to video (`retry`).
 */

export type DegradeLevel = 'video' | 'keyframes-only' | 'jpeg';

export interface DegradeOptions {
  readonly rttLimitMs?: number;
  /** How long trouble must last before a step down. */
  readonly sustainMs?: number;
  /** How long keyframes-only gets to help before JPEG. */
  readonly keyframesTrialMs?: number;
  /** Latency must grow by this much over `sustainMs`, never improving, to count as growing. */
  readonly latencyRiseMs?: number;
}

export interface NetworkSample {
  readonly rttMs: number | null;
  readonly latencyMs: number | null;
}

export interface DegradeStep {
  readonly level: 'keyframes-only' | 'jpeg';
  readonly reason: string;
}

/** Latency may dip by this much between samples and still count as growing (measurement noise). */
const LATENCY_NOISE_MS = 20;

export class DegradeController {
  private readonly rttLimitMs: number;
  private readonly sustainMs: number;
  private readonly keyframesTrialMs: number;
  private readonly latencyRiseMs: number;
  private currentLevel: DegradeLevel = 'video';
  private currentReason = '';
  private highRttSince: number | null = null;
  private latency: { readonly at: number; readonly ms: number }[] = [];
  private trialStartedAt = 0;

  constructor(options: DegradeOptions = {}) {
    this.rttLimitMs = options.rttLimitMs ?? 150;
    this.sustainMs = options.sustainMs ?? 3000;
    this.keyframesTrialMs = options.keyframesTrialMs ?? 5000;
    this.latencyRiseMs = options.latencyRiseMs ?? 250;
  }

  get level(): DegradeLevel {
    return this.currentLevel;
  }

  /** Why the last step down happened. */
  get reason(): string {
    return this.currentReason;
  }

  /** Feed one measurement while video plays; returns the step to take now, if any. */
  sample(now: number, sample: NetworkSample, canKeyframesOnly: boolean): DegradeStep | null {
    if (this.currentLevel === 'jpeg') return null;
    const trouble = this.rttTrouble(now, sample.rttMs) ?? this.latencyTrouble(now, sample.latencyMs);
    if (this.currentLevel === 'keyframes-only') {
      if (now - this.trialStartedAt < this.keyframesTrialMs || trouble === null) return null;
      return this.step('jpeg', `${trouble}, also with keyframes only`);
    }
    if (trouble === null) return null;
    if (!canKeyframesOnly) return this.step('jpeg', trouble);
    this.trialStartedAt = now;
    // Keyframes arrive far apart: the latency seen before says nothing about the trial.
    this.latency = [];
    return this.step('keyframes-only', trouble);
  }

  /** Playback stopped (reconnecting, no publisher): what was measured before says nothing about what follows. */
  interrupt(): void {
    this.highRttSince = null;
    this.latency = [];
  }

  /** The viewer asked for video again. */
  retry(): void {
    this.interrupt();
    this.currentLevel = 'video';
    this.currentReason = '';
  }

  private step(level: DegradeStep['level'], reason: string): DegradeStep {
    this.currentLevel = level;
    this.currentReason = reason;
    return { level, reason };
  }

  private rttTrouble(now: number, rttMs: number | null): string | null {
    if (rttMs === null || rttMs <= this.rttLimitMs) {
      this.highRttSince = null;
      return null;
    }
    this.highRttSince ??= now;
    if (now - this.highRttSince < this.sustainMs) return null;
    return `RTT ${Math.round(rttMs)} ms > ${this.rttLimitMs} ms for ${seconds(now - this.highRttSince)} s`;
  }

  private latencyTrouble(now: number, latencyMs: number | null): string | null {
    if (latencyMs === null) {
      this.latency = [];
      return null;
    }
    const window = this.latency;
    window.push({ at: now, ms: latencyMs });
    // Keep exactly one sample at or before the window start, so the window spans `sustainMs` once it can.
    while (window.length > 1 && window[1]!.at <= now - this.sustainMs) window.shift();
    const first = window[0]!;
    if (now - first.at < this.sustainMs) return null;
    for (let i = 1; i < window.length; i++) {
      if (window[i]!.ms < window[i - 1]!.ms - LATENCY_NOISE_MS) return null;
    }
    const rise = latencyMs - first.ms;
    if (rise < this.latencyRiseMs) return null;
    // Steady means in every third of the window: one stall makes latency jump once and then stay,
    // which is not a network falling behind.
    const thirds = [1, 2, 3].map((k) => valueAt(window, first.at + ((now - first.at) * k) / 3));
    let before = first.ms;
    for (const value of thirds) {
      if (value - before < this.latencyRiseMs / 6) return null;
      before = value;
    }
    return `latency grew ${Math.round(rise)} ms in ${seconds(now - first.at)} s`;
  }
}

/** The latest sample at or before `at`. */
function valueAt(window: readonly { readonly at: number; readonly ms: number }[], at: number): number {
  let value = window[0]!.ms;
  for (const sample of window) {
    if (sample.at > at) break;
    value = sample.ms;
  }
  return value;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(1);
}
