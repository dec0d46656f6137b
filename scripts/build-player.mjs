// Bundles the browser code in public/src into public/dist (served as /dist/).
import { build } from 'esbuild';
import { rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
// Chunk names carry a hash: without this, every build would leave the previous chunks behind.
rmSync(new URL('../public/dist', import.meta.url), { recursive: true, force: true });

const result = await build({
  absWorkingDir: root,
  entryPoints: {
    // Library and player page: `import { PolycastPlayer } from '/dist/player.js'`.
    player: 'public/src/main.ts',
    index: 'public/src/pages/index.ts',
  },
  outdir: 'public/dist',
  bundle: true,
  format: 'esm',
  // Transports loaded on demand (WebTransport's moq client, hls.js) become chunks of their own.
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
});

for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith('.map')) console.log(`${file}  ${(bytes / 1024).toFixed(1)} KiB`);
}
