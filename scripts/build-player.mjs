// Bundles the browser code in public/src into public/dist (served as /dist/).
import { build } from 'esbuild';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
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

// The player page names the chunks player.js imports, so the browser fetches them with it, not after parsing it.
const [, player] = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === 'public/src/main.ts');
const preloads = player.imports
  .filter((i) => i.kind === 'import-statement')
  .map((i) => `  <link rel="modulepreload" href="/${i.path.replace(/^public\//, '')}">`);
const page = readFileSync(new URL('../public/player.html', import.meta.url), 'utf8');
const marker = '  <script type="module" src="/dist/player.js"></script>';
if (!page.includes(marker)) throw new Error('public/player.html no longer loads /dist/player.js the way build-player.mjs expects');
writeFileSync(new URL('../public/dist/player.html', import.meta.url), page.replace(marker, `${preloads.join('\n')}\n${marker}`));

for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith('.map')) console.log(`${file}  ${(bytes / 1024).toFixed(1)} KiB`);
}
