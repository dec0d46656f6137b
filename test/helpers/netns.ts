/**
 * Network namespaces for tests that need hosts apart (a CDN edge, an
 * origin): each is joined to this (the root) namespace by a veth pair on a
 * /24 of its own, `10.<net>.<index>.1` on this side and `.2` inside. Names
 * carry the test process's pid so parallel runs never collide, and `remove`
 * takes the namespace (and with it the veth) away even after a failure.
 * Needs root, which CI has.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';

export interface Namespace {
  readonly name: string;
  /** This side's address on the link, e.g. 10.81.1.1. */
  readonly hostAddress: string;
  /** The namespace's address on the link, e.g. 10.81.1.2. */
  readonly address: string;
  /** The veth end in this namespace, to cut the link with `ip link set … down`. */
  readonly hostInterface: string;
  /** Starts `command` inside the namespace. */
  spawn(command: string, args: readonly string[], options?: SpawnOptions): ChildProcess;
  remove(): void;
}

function ip(args: readonly string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr.trim() || r.error?.message || `exit ${r.status}`}`);
}

/** Why namespaces cannot be made here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  const r = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' });
  return r.status === 0 ? null : `ip netns does not work here: ${r.stderr.trim() || r.error?.message}`;
}

/** `tag` (a few letters) and `index` (1–250) tell this test's namespaces apart; `net` picks the 10.<net>.x.y range. */
export function createNamespace(tag: string, index: number, net = 81): Namespace {
  const id = `${tag}${index}-${process.pid % 100_000}`;
  const name = `pc-${id}`;
  const hostInterface = `h${id}`.slice(0, 15);
  const inner = `n${id}`.slice(0, 15);
  const hostAddress = `10.${net}.${index}.1`;
  const address = `10.${net}.${index}.2`;
  spawnSync('ip', ['netns', 'del', name]);
  removeOrphans(tag, index);
  ip(['netns', 'add', name]);
  try {
    ip(['link', 'add', hostInterface, 'type', 'veth', 'peer', 'name', inner]);
    ip(['link', 'set', inner, 'netns', name]);
    ip(['addr', 'add', `${hostAddress}/24`, 'dev', hostInterface]);
    ip(['link', 'set', hostInterface, 'up']);
    ip(['-n', name, 'addr', 'add', `${address}/24`, 'dev', inner]);
    ip(['-n', name, 'link', 'set', inner, 'up']);
    ip(['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    spawnSync('ip', ['link', 'del', hostInterface]);
    spawnSync('ip', ['netns', 'del', name]);
    throw err;
  }
  return {
    name,
    hostAddress,
    address,
    hostInterface,
    spawn: (command, args, options = {}) => spawn('ip', ['netns', 'exec', name, command, ...args], options),
    remove: () => {
      spawnSync('ip', ['link', 'del', hostInterface]);
      spawnSync('ip', ['netns', 'del', name]);
    },
  };
}

/**
 * Namespaces of this tag and index left by a test process that no longer
 * exists (killed before its cleanup): their veth holds the same subnet, and
 * the host would route this test's packets to the dead one.
 */
function removeOrphans(tag: string, index: number): void {
  const prefix = `pc-${tag}${index}-`;
  const listed = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout ?? '';
  for (const line of listed.split('\n')) {
    const name = line.split(' ')[0] ?? '';
    if (!name.startsWith(prefix)) continue;
    const pid = Number(name.slice(prefix.length));
    if (!Number.isInteger(pid) || pid === process.pid % 100_000 || processAlive(pid)) continue;
    // The host end goes at once; the namespace itself lingers while anything (an nginx) still runs in it.
    spawnSync('ip', ['link', 'del', `h${name.slice('pc-'.length)}`.slice(0, 15)]);
    spawnSync('ip', ['netns', 'del', name]);
  }
}

/** PIDs are cut to five digits in names: a live process whose PID ends so keeps its namespace (a rare, harmless miss). */
function processAlive(shortPid: number): boolean {
  const pids = spawnSync('pgrep', ['-f', '.'], { encoding: 'utf8' }).stdout ?? '';
  return pids.split('\n').some((p) => p !== '' && Number(p) % 100_000 === shortPid);
}

