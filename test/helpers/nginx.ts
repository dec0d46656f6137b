/**
 * Debian's nginx started with the shipped cache configuration
 * (config/examples/nginx-hls-cache.conf), its placeholders filled in: a
 * private prefix, cache and logs under a temporary directory, in the
 * foreground, optionally inside a network namespace.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { packageRoot } from '../../src/package-root.js';

/** Found from the package root: this module also runs compiled, from dist/ (the bench). */
export const NGINX_CACHE_CONF = join(packageRoot(), 'config/examples/nginx-hls-cache.conf');
/** Debian puts it in /usr/sbin, which a non-login PATH may lack. */
const NGINX = existsSync('/usr/sbin/nginx') ? '/usr/sbin/nginx' : 'nginx';

export interface Nginx {
  /** `http://<listen>` */
  readonly url: string;
  errorLog(): string;
  stop(): Promise<void>;
}

export interface NginxOptions {
  /** `host:port` nginx listens on. */
  readonly listen: string;
  /** `host:port` of the Polycast origin. */
  readonly origin: string;
  /** How to start it: by default a plain `spawn`; a namespace's `spawn` runs it there. */
  readonly spawn?: (command: string, args: readonly string[], options: SpawnOptions) => ChildProcess;
  /** Log each request as `<upstream address or -> <request URI>` here: `-` was served from the cache. */
  readonly accessLog?: string;
}

export async function startNginx(o: NginxOptions): Promise<Nginx> {
  if (spawnSync(NGINX, ['-v']).error !== undefined) throw new Error('nginx is not installed: apt-get install nginx (.ci/run does)');
  const dir = mkdtempSync(join(tmpdir(), 'polycast-nginx-'));
  // nginx's workers drop root privileges: they must reach the cache below this directory.
  chmodSync(dir, 0o755);
  let conf = readFileSync(NGINX_CACHE_CONF, 'utf8').replaceAll('__LISTEN__', o.listen).replaceAll('__ORIGIN__', o.origin).replaceAll('__CACHE_DIR__', dir);
  if (o.accessLog) {
    if (!conf.includes('access_log off;')) throw new Error(`${NGINX_CACHE_CONF} no longer turns the access log off: update startNginx`);
    conf = conf.replace('access_log off;', `log_format polycast_origin '$upstream_addr $request_uri';\n    access_log ${o.accessLog} polycast_origin;`);
  }
  writeFileSync(join(dir, 'nginx.conf'), conf);
  const args = ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', join(dir, 'error.log'), '-g', `daemon off; pid ${join(dir, 'nginx.pid')};`];
  const child = (o.spawn ?? ((c, a, opts) => spawn(c, [...a], opts)))(NGINX, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const errorLog = (): string => {
    try {
      return readFileSync(join(dir, 'error.log'), 'utf8').slice(-2000);
    } catch {
      return '';
    }
  };
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const url = `http://${o.listen}`;
  const deadline = Date.now() + 10_000;
  for (;;) {
    try {
      await fetch(`${url}/`);
      return { url, errorLog, stop };
    } catch {
      if (Date.now() > deadline || child.exitCode !== null) {
        const why = `nginx did not start: ${stderr} ${errorLog()}`;
        await stop();
        throw new Error(why);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}
