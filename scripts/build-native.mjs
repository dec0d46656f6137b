// Builds native/udp-batch (batched UDP output for WebTransport) with the
// node-gyp that ships inside npm, against this Node's own headers, so it
// needs no network. Optional: if it cannot be built, the server sends
// through dgram, more slowly, and says why when WebTransport starts.
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('../native/udp-batch/', import.meta.url));
const out = join(dir, 'build', 'Release', 'udp_batch.node');
const sources = ['binding.gyp', 'udp_batch.c'].map((f) => join(dir, f));

if (process.platform !== 'linux') process.exit(0);
if (existsSync(out) && sources.every((s) => statSync(s).mtimeMs <= statSync(out).mtimeMs)) process.exit(0);

function nodeGyp() {
  const candidates = [];
  if (process.env.npm_execpath) candidates.push(join(dirname(process.env.npm_execpath), '..', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  // npm's own node-gyp beside this node binary (a global npm install).
  const prefix = dirname(dirname(process.execPath));
  candidates.push(join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'));
  return candidates.find((c) => existsSync(c));
}

const gyp = nodeGyp();
// Node's headers live under <prefix>/include/node for distribution and package builds alike.
const nodedir = dirname(dirname(process.execPath));
const why = !gyp
  ? 'node-gyp (bundled with npm) not found'
  : !existsSync(join(nodedir, 'include', 'node', 'node_api.h'))
    ? `Node's headers are not in ${join(nodedir, 'include', 'node')}`
    : undefined;
let failure = why;
if (!failure) {
  const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) failure = `node-gyp failed:\n${(r.stderr || '') + (r.stdout || '')}`.trim();
}
if (failure) {
  process.stderr.write(`native/udp-batch not built (${failure.split('\n')[0]}); WebTransport will send through dgram, one packet at a time.\n`);
  if (failure.includes('\n')) process.stderr.write(`${failure}\n`);
}
