// Bundles the browser code in public/src into public/dist (served as /dist/).
import { build } from 'esbuild';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

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
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
  // public/src/transports/webtransport/ holds the WebTransport player modules once they exist;
  // until then the import that bundles them matches nothing, which is expected.
  logOverride: { 'empty-glob': 'silent' },
});

for (const [file, { bytes }] of Object.entries(result.metafile.outputs)) {
  if (!file.endsWith('.map')) console.log(`${file}  ${(bytes / 1024).toFixed(1)} KiB`);
}
