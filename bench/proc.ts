/**
 * CPU time and resident memory of a process, from Linux's /proc, the way
 * `top` gets them: utime+stime in clock ticks (all threads, so libuv's
 * pool counts too) and VmRSS.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

let ticksPerSecond: number | undefined;

/** `getconf CLK_TCK`; 100 on every Linux this runs on, but asked rather than assumed. */
export function clockTicks(): number {
  if (ticksPerSecond === undefined) {
    try {
      const value = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
      ticksPerSecond = Number.isFinite(value) && value > 0 ? value : 100;
    } catch {
      ticksPerSecond = 100;
    }
  }
  return ticksPerSecond;
}

export interface ProcSample {
  /** performance.now() when read. */
  t: number;
  /** utime + stime, seconds. */
  cpuS: number;
  rssMiB: number;
}

/** One reading, or undefined once the process is gone. */
export function sampleProc(pid: number): ProcSample | undefined {
  try {
    const t = performance.now();
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const rss = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return { t, cpuS: ticks / clockTicks(), rssMiB: rss ? Number(rss[1]) / 1024 : 0 };
  } catch {
    return undefined;
  }
}

/** CPU cores used between two samples. */
export function coresBetween(a: ProcSample, b: ProcSample): number {
  const seconds = (b.t - a.t) / 1000;
  return seconds > 0 ? (b.cpuS - a.cpuS) / seconds : 0;
}

/** Samples a process on an interval; `window()` gives CPU and peak RSS since `mark()`. */
export class ProcWatcher {
  private first: ProcSample | undefined;
  private last: ProcSample | undefined;
  private peakRss = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    readonly pid: number,
    intervalMs = 250,
  ) {
    this.timer = setInterval(() => this.tick(), intervalMs);
    this.mark();
  }

  /** Starts a new window now. */
  mark(): void {
    this.first = sampleProc(this.pid);
    this.last = this.first;
    this.peakRss = this.first?.rssMiB ?? 0;
  }

  /** CPU cores and peak RSS from the last `mark()` to now, or undefined if the process died. */
  window(): { cores: number; peakRssMiB: number; seconds: number } | undefined {
    this.tick();
    if (this.first === undefined || this.last === undefined || this.last === this.first) return undefined;
    return { cores: coresBetween(this.first, this.last), peakRssMiB: this.peakRss, seconds: (this.last.t - this.first.t) / 1000 };
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private tick(): void {
    const s = sampleProc(this.pid);
    if (s === undefined) return;
    this.last = s;
    if (s.rssMiB > this.peakRss) this.peakRss = s.rssMiB;
  }
}

export interface MachineTicks {
  busy: number;
  /** Interrupt and softirq time: with IRQ time accounting, loopback TCP work lands here rather than in any process. */
  irq: number;
  total: number;
}

/** Busy and total jiffies of the whole machine (first line of /proc/stat). */
export function machineTicks(): MachineTicks {
  const line = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!;
  const v = line.trim().split(/\s+/).slice(1).map(Number);
  // user nice system idle iowait irq softirq steal; guest time is already inside user.
  const total = v.slice(0, 8).reduce((a, b) => a + b, 0);
  const idle = (v[3] ?? 0) + (v[4] ?? 0);
  return { busy: total - idle, irq: (v[5] ?? 0) + (v[6] ?? 0), total };
}

/** Cores' worth of the machine busy between two readings (all processes and the kernel), and how much of it was interrupt time. */
export function machineCoresBusy(a: MachineTicks, b: MachineTicks, cores: number): { busy: number; irq: number } {
  const total = b.total - a.total;
  if (total <= 0) return { busy: 0, irq: 0 };
  return { busy: ((b.busy - a.busy) / total) * cores, irq: ((b.irq - a.irq) / total) * cores };
}

/**
 * Waits, at most `maxMs`, for the machine to fall under `thresholdCores`
 * busy over one second, so a phase does not start on top of other work;
 * returns how long it waited and the last reading.
 */
export async function waitForQuiet(maxMs: number, cores: number, thresholdCores = 0.3): Promise<{ waitedMs: number; busyCores: number }> {
  const start = performance.now();
  for (;;) {
    const before = machineTicks();
    await new Promise((resolve) => setTimeout(resolve, 1000));
    const busyCores = machineCoresBusy(before, machineTicks(), cores).busy;
    const waitedMs = performance.now() - start;
    if (busyCores < thresholdCores || waitedMs >= maxMs) return { waitedMs, busyCores };
  }
}

/** The machine's count of UDP datagrams dropped for a full receive buffer (`Udp: RcvbufErrors` of /proc/net/snmp), or undefined. */
export function udpReceiveBufferErrors(): number | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((l) => l.startsWith('Udp: '));
    const names = lines[0]?.split(/\s+/) ?? [];
    const values = lines[1]?.split(/\s+/) ?? [];
    const i = names.indexOf('RcvbufErrors');
    return i > 0 && values[i] !== undefined ? Number(values[i]) : undefined;
  } catch {
    return undefined;
  }
}
