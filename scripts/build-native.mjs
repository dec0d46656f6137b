// Builds the native helpers under native/ with the node-gyp that ships
// inside npm, against this Node's own headers, so it needs no network. Each
// is optional: what cannot be built is said once, and the server runs
// without it, more slowly.
//   native/udp-batch    batched UDP output (sendmmsg, GSO) for WebTransport
//   native/quic-ngtcp2  QUIC connections on Debian's ngtcp2 + GnuTLS, writing
//                       a whole batch of packets per call
//   native/tcp-direct   one gather write per WebSocket viewer and frame,
//                       beside Node's stream machinery; a frame's writes to
//                       all viewers spread over helper threads
import { spawnSync } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const addons = [
  {
    dir: 'udp-batch',
    out: 'udp_batch.node',
    sources: ['binding.gyp', 'udp_batch.c', 'udp_receive.c', 'udp_receive.h', '../common/address.h', '../common/napi-check.h', '../common/napi-callback.h'],
    without: 'WebTransport will send through dgram, one packet at a time',
  },
  {
    dir: 'quic-ngtcp2',
    out: 'quic_ngtcp2.node',
    sources: ['binding.gyp', 'quic_conn.c', '../common/address.h', '../common/napi-check.h', '../common/napi-callback.h'],
    // The libraries' headers decide whether it can be built at all.
    headers: ['/usr/include/ngtcp2/ngtcp2_crypto_gnutls.h', '/usr/include/gnutls/gnutls.h'],
    packages: 'libngtcp2-dev libngtcp2-crypto-gnutls-dev libgnutls28-dev',
    without: 'WebTransport will run on quiche (@matrixai/quic), at several times the CPU per viewer',
  },
  {
    dir: 'tcp-direct',
    out: 'tcp_direct.node',
    sources: ['binding.gyp', 'tcp_direct.c', 'send_many.c', 'send_many.h', '../common/napi-check.h'],
    without: 'WebSocket viewers will be written through Node\'s streams, at more CPU per viewer',
  },
];

if (process.platform !== 'linux') process.exit(0);

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

for (const addon of addons) {
  const dir = fileURLToPath(new URL(`../native/${addon.dir}/`, import.meta.url));
  const out = join(dir, 'build', 'Release', addon.out);
  const sources = addon.sources.map((f) => join(dir, f));
  if (existsSync(out) && sources.every((s) => statSync(s).mtimeMs <= statSync(out).mtimeMs)) continue;
  const missing = (addon.headers ?? []).filter((h) => !existsSync(h));
  const failure = !gyp
    ? 'node-gyp (bundled with npm) not found'
    : !existsSync(join(nodedir, 'include', 'node', 'node_api.h'))
      ? `Node's headers are not in ${join(nodedir, 'include', 'node')}`
      : missing.length > 0
        ? `${missing.join(', ')} missing: apt-get install ${addon.packages}`
        : build(dir);
  if (failure) {
    process.stderr.write(`native/${addon.dir} not built (${failure.split('\n')[0]}); ${addon.without}.\n`);
    if (failure.includes('\n')) process.stderr.write(`${failure}\n`);
  }
}

function build(dir) {
  const r = spawnSync(process.execPath, [gyp, 'rebuild', `--nodedir=${nodedir}`, '--loglevel=warn'], { cwd: dir, encoding: 'utf8' });
  return r.status === 0 ? undefined : `node-gyp failed:\n${(r.stderr || '') + (r.stdout || '')}`.trim();
}
