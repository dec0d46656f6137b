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
    // Built only so that main.ts lands in a chunk of its own, named by its content, which the player page loads
    // directly: a browser may keep it for good, where player.js must be revalidated first (a round trip). Deleted below.
    'page-entry': 'public/src/main.ts',
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

for (const file of ['public/dist/page-entry.js', 'public/dist/page-entry.js.map']) {
  rmSync(new URL(`../${file}`, import.meta.url), { force: true });
  delete result.metafile.outputs[file];
}
// The chunk that holds main.ts (player.js only re-exports it): what the player page loads, as /dist/chunks/<name>.
const [mainChunk, main] = Object.entries(result.metafile.outputs).find(([file, o]) => file.includes('/chunks/') && 'public/src/main.ts' in o.inputs) ?? [];
if (!main) throw new Error('public/src/main.ts did not get a chunk of its own');
// The player page's inline script loads that chunk, and names the chunks it imports (all of them imported by player.js
// too) so that the browser fetches them with it, not after parsing it.
const served = (file) => `/${file.replace(/^public\//, '')}`;
const staticImports = (output) => output.imports.filter((i) => i.kind === 'import-statement').map((i) => served(i.path));
// The chunks negotiation loads on demand for the transports a page is likely to try first: the inline script fetches
// them beside the player when it can tell which one that is.
const onDemand = {};
for (const [id, source] of [
  ['wt-raw', 'public/src/transports/webtransport/wt-raw.ts'],
  ['wt-fmp4', 'public/src/transports/webtransport/wt-fmp4.ts'],
]) {
  const found = Object.entries(result.metafile.outputs).find(([, o]) => o.entryPoint === source);
  if (!found) throw new Error(`${source} did not get a chunk of its own`);
  onDemand[id] = [served(found[0]), ...staticImports(found[1])];
}
const playerScripts = { main: served(mainChunk), imports: staticImports(main), transports: onDemand };
const page = readFileSync(new URL('../public/player.html', import.meta.url), 'utf8');
const marker = '  <script type="module" src="/dist/player.js"></script>\n';
if (!page.includes(marker)) throw new Error('public/player.html no longer loads /dist/player.js the way build-player.mjs expects');
// The head's inline script opens the ws-nal socket when ws-nal is sure to go first, and loads the player
// (public/src/early.ts).
const early = await build({
  absWorkingDir: root,
  entryPoints: ['public/src/early.ts'],
  bundle: true,
  format: 'iife',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  write: false,
  define: { POLYCAST_PLAYER_SCRIPTS: JSON.stringify(playerScripts) },
  logLevel: 'warning',
});
const earlyScript = early.outputFiles[0].text.trim();
if (/<\/script|<!--/i.test(earlyScript)) throw new Error('public/src/early.ts minified into something an inline <script> cannot hold');
const headEnd = '</head>';
if (!page.includes(headEnd)) throw new Error('public/player.html has no </head> for the early script');
writeFileSync(
  new URL('../public/dist/player.html', import.meta.url),
  page.replace(headEnd, `  <script>${earlyScript}</script>\n${headEnd}`).replace(marker, ''),
);
console.log(`public/dist/player.html  inline early script ${(earlyScript.length / 1024).toFixed(1)} KiB`);

for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith('.map')) console.log(`${file}  ${(bytes / 1024).toFixed(1)} KiB`);
}
