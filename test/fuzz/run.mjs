#!/usr/bin/env node
// `npm run fuzz [-- --target x --count n --seed s --case i]`: bundles, then runs test/fuzz/run.ts.
import { bundle } from './bundle.mjs';

const out = await bundle();
const { main } = await import(out.run);
process.exitCode = await main(process.argv.slice(2), out);
