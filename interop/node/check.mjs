// node check.mjs CASES.json: streams every case of CASES.json through its graph chunk by chunk
// (edgernn.mjs: onnxruntime-node alone) and compares each step's probabilities with the Python
// runtime's. Prints one JSON line per case and a summary; exit 1 when any case differs by more
// than its tolerance or names another top class at any step.
//
// CASES.json: {"cases": [{"name", "model": path, "frames": [[...]...] | "samples": [...] | "text": str,
//              "chunks": [raw steps (samples, tokens) per push...], "expected": [[p...] per step],
//              "tolerance"}]}

import { readFileSync } from "node:fs";
import { loadModel } from "./edgernn.mjs";

const argmax = (row) => row.indexOf(Math.max(...row));

const { cases } = JSON.parse(readFileSync(process.argv[2], "utf8"));
const models = new Map();
let failed = 0;
for (const c of cases) {
  if (!models.has(c.model)) models.set(c.model, await loadModel(c.model));
  const model = models.get(c.model);
  const input = c.text !== undefined ? model.encode(c.text) : (c.samples ?? c.frames);
  const stream = model.stream();
  const steps = [];
  let at = 0;
  for (const size of c.chunks) {
    steps.push(...(await stream.push(input.slice(at, at + size))));
    at += size;
  }
  steps.push(...(await stream.push(input.slice(at))));
  let maxDiff = steps.length === c.expected.length ? 0 : Infinity, sameTop = steps.length === c.expected.length;
  for (let t = 0; t < Math.min(steps.length, c.expected.length); t++) {
    for (let k = 0; k < steps[t].length; k++) maxDiff = Math.max(maxDiff, Math.abs(steps[t][k] - c.expected[t][k]));
    sameTop &&= argmax(steps[t]) === argmax(c.expected[t]);
  }
  const passed = maxDiff <= c.tolerance && sameTop;
  failed += passed ? 0 : 1;
  console.log(JSON.stringify({ name: c.name, steps: steps.length, expected_steps: c.expected.length,
                               max_abs_diff: maxDiff, same_top_class: sameTop, tolerance: c.tolerance, passed }));
}
console.log(JSON.stringify({ cases: cases.length, failed }));
process.exit(failed ? 1 : 0);
