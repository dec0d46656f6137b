/**
 * esbuild bundles of the @moq packages for the tests. They ship ESM with
 * bare and extension-less imports, which neither a browser nor Node's
 * loader resolves on its own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { build } from 'esbuild';

const root = process.cwd();

export interface Bundle {
  readonly dir: string;
  /** The entry module's file name inside `dir`. */
  readonly entry: string;
  remove(): void;
}

/** Bundles `source` (a module body importing @moq packages) for the browser, code-split, into a temp directory. */
export async function bundleForBrowser(source: string): Promise<Bundle> {
  const dir = mkdtempSync(join(tmpdir(), 'polycast-moq-web-'));
  await build({
    stdin: { contents: source, resolveDir: root, loader: 'js', sourcefile: 'entry.js' },
    bundle: true,
    format: 'esm',
    splitting: true,
    target: 'chrome120',
    outdir: dir,
    entryNames: 'entry',
    logLevel: 'error',
  });
  return { dir, entry: 'entry.js', remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Bundles `source` for Node and imports it. */
export async function importBundled<T>(source: string): Promise<T> {
  const dir = mkdtempSync(join(tmpdir(), 'polycast-moq-node-'));
  try {
    const outfile = join(dir, 'entry.mjs');
    await build({
      stdin: { contents: source, resolveDir: root, loader: 'js', sourcefile: 'entry.js' },
      bundle: true,
      format: 'esm',
      platform: 'node',
      outfile,
      logLevel: 'error',
    });
    return (await import(pathToFileURL(outfile).href)) as T;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
