// Running an edgernn graph from JavaScript with onnxruntime-node alone: the file's own metadata
// (its front end, labels and state layout: ONNX metadata_props read straight from the protobuf),
// the front end for raw feature frames, audio samples and text, and a stream that carries the state.
//
//   const model = await loadModel("model.fp32.onnx");
//   const stream = model.stream();
//   const probs = await stream.push(rawFrames);   // [[p per class] per step completed]
//
// An audio graph computes its own log-mel frames: it takes samples (float, full scale 1.0), one
// hop per step (x [1, steps, hop]); a stream's first `primer_samples` samples complete no frame
// and go into the state named `primer_state` instead (frontend metadata "in_graph").

import { readFileSync } from "node:fs";
import ort from "onnxruntime-node";

const PREFIX = "edgernn.";

// ---------------------------------------------------------------------------------------------
// ONNX metadata_props: ModelProto field 14, repeated StringStringEntryProto {key = 1, value = 2}.

function readVarint(bytes, at) {
  let value = 0n, shift = 0n, pos = at;
  for (;;) {
    const byte = bytes[pos++];
    value |= BigInt(byte & 0x7f) << shift;
    if ((byte & 0x80) === 0) return [value, pos];
    shift += 7n;
  }
}

function* fields(bytes, start = 0, end = bytes.length) {
  let pos = start;
  while (pos < end) {
    let key;
    [key, pos] = readVarint(bytes, pos);
    const field = Number(key >> 3n), wire = Number(key & 7n);
    if (wire === 0) { [, pos] = readVarint(bytes, pos); continue; }
    if (wire === 1) { pos += 8; continue; }
    if (wire === 5) { pos += 4; continue; }
    if (wire !== 2) throw new Error(`not an ONNX file: protobuf wire type ${wire} at byte ${pos}`);
    let length;
    [length, pos] = readVarint(bytes, pos);
    const from = pos;
    pos += Number(length);
    yield [field, from, pos];
  }
}

export function readMetadata(bytes) {
  const decoder = new TextDecoder();
  const props = {};
  for (const [field, from, to] of fields(bytes)) {
    if (field !== 14) continue;
    let key = "", value = "";
    for (const [inner, a, b] of fields(bytes, from, to)) {
      if (inner === 1) key = decoder.decode(bytes.subarray(a, b));
      if (inner === 2) value = decoder.decode(bytes.subarray(a, b));
    }
    props[key] = value;
  }
  return props;
}

// ---------------------------------------------------------------------------------------------
// Text: runtime/text.py's word rule. Python's str.isalnum is Unicode categories L and N (checked
// over every code point of Python 3.11's Unicode 14); marks continue a word; parts join at single
// ASCII apostrophes. Lowercasing: String.prototype.toLowerCase (full case mapping, final sigma).

const LETTER = "[\\p{L}\\p{N}]";
const MARK = "[\\u0300-\\u036f\\u1ab0-\\u1aff\\u1dc0-\\u1dff\\u20d0-\\u20ff\\ufe20-\\ufe2f]";
const PART = `${LETTER}(?:${LETTER}|${MARK})*`;
const WORD = new RegExp(`${PART}(?:'${PART})*`, "gu");

export function tokenize(text) {
  return text.toLowerCase().match(WORD) ?? [];
}

// ---------------------------------------------------------------------------------------------

function zeros(spec) {
  const shape = spec.shape.map((d) => (typeof d === "string" ? 1 : d));
  return new ort.Tensor("float32", new Float32Array(shape.reduce((a, b) => a * b, 1)), shape);
}

function softmax(row) {
  const top = Math.max(...row);
  const exps = row.map((v) => Math.exp(v - top));
  const total = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / total);
}

export async function loadModel(path, options = {}) {
  const bytes = readFileSync(path);
  const props = readMetadata(bytes);
  if (!(PREFIX + "frontend" in props)) throw new Error(`${path}: no edgernn metadata (export it with edgernn export)`);
  const frontend = JSON.parse(props[PREFIX + "frontend"]);
  const runtime = JSON.parse(props[PREFIX + "runtime"] ?? "{}");
  const sessionOptions = { ...options };
  if (runtime.graph_optimization_level === "basic") sessionOptions.graphOptimizationLevel = "basic";
  if (frontend.kind === "features" || frontend.kind === "framed_features") {
    if (!frontend.standardised_in_graph) {
      throw new Error(`${path}: this graph takes standardised frames (metadata schema 1); export it again`);
    }
  } else if (frontend.kind === "logmel") {
    if (!frontend.in_graph) {
      throw new Error(`${path}: this audio graph takes log-mel frames computed outside it (metadata schema 2); export it again`);
    }
  } else if (frontend.kind !== "text" && frontend.kind !== "tokens") {
    throw new Error(`${path}: unknown front end '${frontend.kind}'`);
  }
  const session = await ort.InferenceSession.create(bytes, sessionOptions);
  return new Model(session, frontend, JSON.parse(props[PREFIX + "labels"]), JSON.parse(props[PREFIX + "state"]));
}

class Model {
  constructor(session, frontend, labels, state) {
    Object.assign(this, { session, frontend, labels, state });
    this.vocabulary = frontend.kind === "text" ? new Map(frontend.vocabulary.words.map((w, i) => [w, i])) : null;
  }

  // Token ids of a text: its first max_tokens words, each its index in the vocabulary's words
  // (0 is padding), 1 for a word the vocabulary lacks.
  encode(text) {
    return tokenize(text).slice(0, this.frontend.max_tokens).map((w) => this.vocabulary.get(w) ?? 1);
  }

  stream() {
    return new Stream(this);
  }
}

class Stream {
  constructor(model) {
    this.model = model;
    this.frame = model.frontend.kind === "framed_features" ? model.frontend.frame : 1;
    this.reset();
  }

  reset() {
    this.state = Object.fromEntries(this.model.state.map((s) => [s.input, zeros(s)]));
    this.pending = []; // raw frames (or samples) of an unfinished graph step
    this.priming = this.model.frontend.kind === "logmel" && this.model.frontend.in_graph.primer_samples > 0;
  }

  // Audio: samples [s...] -> x [1, hops, hop], the stream's first samples primed into the state.
  audioSteps(samples) {
    const { step_samples: hop, primer_samples: primer, primer_state: name } = this.model.frontend.in_graph;
    let waiting = this.pending.concat(Array.from(samples));
    if (this.priming) {
      if (waiting.length < primer) {
        this.pending = waiting;
        return null;
      }
      this.state[name] = new ort.Tensor("float32", Float32Array.from(waiting.slice(0, primer)), [1, primer]);
      waiting = waiting.slice(primer);
      this.priming = false;
    }
    const steps = Math.floor(waiting.length / hop);
    this.pending = waiting.slice(steps * hop);
    if (steps === 0) return null;
    return new ort.Tensor("float32", Float32Array.from(waiting.slice(0, steps * hop)), [1, steps, hop]);
  }

  // Feature models: raw frames [[f per feature] per step]. Audio models: samples. Token models:
  // ids. -> probabilities [[p per class] per graph step completed].
  async push(input) {
    let x;
    if (this.model.frontend.kind === "text" || this.model.frontend.kind === "tokens") {
      if (input.length === 0) return [];
      x = new ort.Tensor("int64", BigInt64Array.from(input.map(BigInt)), [1, input.length]);
    } else if (this.model.frontend.kind === "logmel") {
      x = this.audioSteps(input);
      if (x === null) return [];
    } else {
      const frames = this.pending.concat(input);
      const steps = Math.floor(frames.length / this.frame);
      this.pending = frames.slice(steps * this.frame);
      if (steps === 0) return [];
      const width = frames[0].length * this.frame;
      x = new ort.Tensor("float32", Float32Array.from(frames.slice(0, steps * this.frame).flat()), [1, steps, width]);
    }
    const outputs = await this.model.session.run({ x, ...this.state });
    for (const s of this.model.state) this.state[s.input] = outputs[s.output];
    const logits = outputs.logits, classes = logits.dims[2], rows = [];
    for (let t = 0; t < logits.dims[1]; t++) {
      rows.push(softmax(Array.from(logits.data.subarray(t * classes, (t + 1) * classes))));
    }
    return rows;
  }
}
