// Writes config/schema.json from src/config/schema.ts, the single source of the
// schema. Run after changing the schema:  node scripts/write-config-schema.mjs
// (test/config/schema-json.test.ts fails while the two differ.)
import { build } from 'esbuild';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

// Node 20 cannot import TypeScript; esbuild bundles the schema module in memory.
const bundle = await build({
  entryPoints: [`${root}src/config/schema.ts`],
  bundle: true,
  format: 'esm',
  platform: 'node',
  write: false,
  logLevel: 'error',
});
const source = Buffer.from(bundle.outputFiles[0].text).toString('base64');
const { configSchemaJson } = await import(`data:text/javascript;base64,${source}`);

const target = `${root}config/schema.json`;
writeFileSync(target, configSchemaJson());
console.log(`wrote ${target}`);
