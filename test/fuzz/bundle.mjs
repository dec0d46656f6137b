// Bundles the fuzz runner, a config-parsing worker and Polycast's own entry point
// (src/main.ts) into dist/fuzz/ with esbuild, which the repository already uses for
// the player. The server under test must run as a child process (its RSS alone,
// a crash detectable), and Node 20 cannot execute TypeScript; bundling the working
// tree's sources, rather than using a stale dist/, fuzzes exactly the code on disk.
// Packages stay external so native bindings load from node_modules as usual, and
// dist/fuzz/ sits under the package root, which packageRoot() finds by walking up.
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

export const root = fileURLToPath(new URL('../..', import.meta.url));

/** Returns absolute paths of the bundled entry points. */
export async function bundle() {
  await build({
    absWorkingDir: root,
    entryPoints: { run: 'test/fuzz/run.ts', server: 'src/main.ts', 'config-worker': 'test/fuzz/config-worker.ts', 'watch-worker': 'test/fuzz/watch-worker.ts' },
    outdir: 'dist/fuzz',
    outExtension: { '.js': '.mjs' },
    bundle: true,
    format: 'esm',
    platform: 'node',
    target: 'node20',
    packages: 'external',
    sourcemap: 'inline',
    logLevel: 'warning',
  });
  return {
    run: `${root}dist/fuzz/run.mjs`,
    server: `${root}dist/fuzz/server.mjs`,
    configWorker: `${root}dist/fuzz/config-worker.mjs`,
    watchWorker: `${root}dist/fuzz/watch-worker.mjs`,
  };
}
