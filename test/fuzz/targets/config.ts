/**
 * Configuration files: mutated mediamtx.yml and the examples through
 * parseConfig (src/config/load.ts). Every outcome must be a configuration or
 * a ConfigError naming where the problem is; anything else thrown, or a
 * parse that does not end within 5 s, is a finding. Nothing goes over the
 * wire, but the watching reader is measured all the same.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Worker } from 'node:worker_threads';
import { packageRoot } from '../../../src/package-root.js';
import type { Verdict } from '../config-worker.js';
import { concatBytes, fuzzInput, utf8, type Rng } from '../harness.js';
import { runCases, within, type CaseContext, type FuzzTarget } from '../target.js';

const root = packageRoot();

function corpus(): Uint8Array[] {
  const files = [join(root, 'mediamtx.yml'), ...readdirSync(join(root, 'config/examples')).map((f) => join(root, 'config/examples', f))];
  return files.map((f) => new Uint8Array(readFileSync(f)));
}

/** Line-level edits a person (or a bad merge) makes: lines lost, doubled, moved, re-indented; anchors and aliases. */
function editLines(rng: Rng, text: Uint8Array): Uint8Array {
  const lines = Buffer.from(text).toString('utf8').split('\n');
  const i = rng.int(lines.length);
  switch (rng.int(5)) {
    case 0:
      lines.splice(i, 1 + rng.int(3));
      break;
    case 1:
      lines.splice(i, 0, ...lines.slice(i, i + 1 + rng.int(3)));
      break;
    case 2:
      lines[i] = ' '.repeat(rng.int(9)) + (lines[i] ?? '').trimStart();
      break;
    case 3:
      lines.splice(i, 0, rng.pick(['a: &a [x, x, x, x]', 'b: &b [*a, *a, *a, *a]', 'c: [*b, *b, *b, *b]', '<<: *a', 'paths: !!binary aGk=', '? [complex]\n: key', 'x: "\\u0000"']));
      break;
    default:
      lines.push(`${rng.pick(['readTimeout', 'paths', 'rtmpAddress', 'maxConnections', 'authInternalUsers'])}: ${rng.pick(['-1', '99999999999999999999', '1e400', '[]', '{}', '~', '"10 seconds"', ':0'])}`);
  }
  return utf8(lines.join('\n'));
}

class ParserWorker {
  private worker: Worker;

  constructor(private readonly script: string) {
    this.worker = new Worker(script, { execArgv: ['--no-warnings'] });
  }

  async parse(text: string, ms: number): Promise<Verdict | 'timeout'> {
    const answer = new Promise<Verdict>((r) => this.worker.once('message', r));
    this.worker.postMessage(text);
    const v = await within(answer, ms);
    if (v === 'timeout') {
      await this.worker.terminate();
      this.worker = new Worker(this.script, { execArgv: ['--no-warnings'] });
    }
    return v;
  }

  close(): Promise<number> {
    return this.worker.terminate();
  }
}

export const config: FuzzTarget = {
  name: 'config',
  summary: 'configuration files (mutated `mediamtx.yml` and `config/examples/*.yml`) through `parseConfig`, in a worker with a 5 s bound per parse',
  async wire(ctx: CaseContext) {
    const script = process.env.POLYCAST_FUZZ_CONFIG_WORKER;
    if (!script) throw new Error('POLYCAST_FUZZ_CONFIG_WORKER is not set (the bundled config-worker.mjs)');
    const files = corpus();
    const worker = new ParserWorker(script);
    try {
      await runCases(
        ctx,
        this.name,
        async (index, rng) => {
          let bytes = rng.chance(0.5) ? editLines(rng, rng.pick(files)) : fuzzInput(rng, files, 512);
          if (rng.chance(0.2)) bytes = concatBytes([bytes, editLines(rng, bytes)]);
          ctx.sent();
          const v = await worker.parse(Buffer.from(bytes).toString('utf8'), 5000);
          if (v === 'timeout') ctx.finding({ kind: 'hang', detail: 'parseConfig did not return within 5 s', caseIndex: index, bytes });
          else if (v.kind === 'other') ctx.finding({ kind: 'untyped-exception', detail: `parseConfig threw ${v.error}`, caseIndex: index, bytes });
          else if (v.kind === 'config-error' && v.positioned === 0) ctx.finding({ kind: 'contract', detail: `ConfigError without a position: ${v.first}`, caseIndex: index, bytes });
        },
        1,
      );
    } finally {
      await worker.close();
    }
  },
};
