// edgernn's browser demo: the exported graph run by onnxruntime-web, one step at a time, its
// state fed back (each state output becomes the same-named input of the next step). demo.json
// (report/demo.py) says the graph's input and state shapes and holds the bundled input's steps and
// the Python runtime's probabilities for them. When the bundled input has streamed, #result holds
// {"probs": [[...]], "max_abs_diff": d} for a test to read.
"use strict";

const COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"];
const SHOWN = 8; // classes drawn: the most probable ones

function softmax(logits) {
  const top = Math.max(...logits);
  const exps = Array.from(logits, (v) => Math.exp(v - top));
  const sum = exps.reduce((a, b) => a + b, 0);
  return exps.map((v) => v / sum);
}

class GraphStream {
  constructor(session, config) {
    this.session = session;
    this.config = config;
    this.reset();
  }

  reset() {
    this.state = {};
    for (const s of this.config.state) {
      this.state[s.name] = new ort.Tensor("float32", new Float32Array(s.shape.reduce((a, b) => a * b, 1)), s.shape);
    }
  }

  // One step: values is one row of the graph's x (feature frame, token id, or hop of samples).
  async step(values) {
    const shape = [1, 1, ...this.config.x.step_shape];
    const x = this.config.x.dtype === "int64"
      ? new ort.Tensor("int64", BigInt64Array.from([].concat(values), (v) => BigInt(v)), shape)
      : new ort.Tensor("float32", Float32Array.from([].concat(values)), shape);
    const out = await this.session.run({ x, ...this.state });
    for (const s of this.config.state) this.state[s.name] = out[s.output];
    return softmax(out.logits.data);
  }
}

class Chart {
  constructor(canvas, labels) {
    this.canvas = canvas;
    this.context = canvas.getContext("2d");
    this.labels = labels;
    this.rows = [];
  }

  add(probs) {
    this.rows.push(probs);
    this.draw();
  }

  draw() {
    const { context: g, canvas } = this;
    const width = canvas.width, height = canvas.height, n = Math.max(this.rows.length, 2);
    g.clearRect(0, 0, width, height);
    const peak = this.labels.map((_, k) => Math.max(...this.rows.map((r) => r[k])));
    const shown = peak.map((p, k) => [p, k]).sort((a, b) => b[0] - a[0]).slice(0, SHOWN).map(([, k]) => k);
    shown.forEach((k, i) => {
      g.strokeStyle = COLORS[i % COLORS.length];
      g.lineWidth = 3;
      g.beginPath();
      this.rows.forEach((row, t) => {
        const px = (t / (n - 1)) * (width - 10) + 5, py = height - 5 - row[k] * (height - 10);
        t ? g.lineTo(px, py) : g.moveTo(px, py);
      });
      g.stroke();
    });
    document.getElementById("legend").innerHTML = shown
      .map((k, i) => `<span style="color:${COLORS[i % COLORS.length]}">■ ${this.labels[k]}</span>`).join("");
  }
}

function showTop(labels, probs) {
  let best = 0;
  probs.forEach((p, k) => { if (p > probs[best]) best = k; });
  document.getElementById("top").textContent = `${labels[best]}  ${probs[best].toFixed(3)}`;
}

async function streamBundled(stream, config) {
  stream.reset();
  const chart = new Chart(document.getElementById("chart"), config.labels);
  const probs = [];
  let worst = 0;
  for (let t = 0; t < config.steps.length; t++) {
    const p = await stream.step(config.steps[t]);
    probs.push(p);
    p.forEach((v, k) => { worst = Math.max(worst, Math.abs(v - config.expected[t][k])); });
    chart.add(p);
    showTop(config.labels, p);
    if (t % 10 === 0) await new Promise((resolve) => setTimeout(resolve, 0)); // let the page draw
  }
  const result = document.getElementById("result");
  result.textContent = JSON.stringify({ probs, max_abs_diff: worst });
  document.getElementById("status").textContent =
    `${probs.length} steps; largest difference from the Python runtime: ${worst.toExponential(2)}`;
  document.title = "edgernn demo: done";
}

async function listen(stream, config) {
  const audio = config.audio;
  const media = await navigator.mediaDevices.getUserMedia({ audio: true });
  const context = new AudioContext({ sampleRate: audio.sample_rate });
  const source = context.createMediaStreamSource(media);
  const processor = context.createScriptProcessor(4096, 1, 1);
  const chart = new Chart(document.getElementById("chart"), config.labels);
  let pending = new Float32Array(0);
  let busy = Promise.resolve();
  stream.reset();
  processor.onaudioprocess = (event) => {
    const input = event.inputBuffer.getChannelData(0);
    const joined = new Float32Array(pending.length + input.length);
    joined.set(pending);
    joined.set(input, pending.length);
    const hops = Math.floor(joined.length / audio.hop);
    pending = joined.slice(hops * audio.hop);
    busy = busy.then(async () => {
      for (let h = 0; h < hops; h++) {
        const p = await stream.step(Array.from(joined.subarray(h * audio.hop, (h + 1) * audio.hop)));
        chart.add(p);
        if (chart.rows.length > 500) chart.rows.shift();
        showTop(config.labels, p);
      }
    });
  };
  source.connect(processor);
  processor.connect(context.destination);
  document.getElementById("status").textContent = "listening";
}

async function main() {
  const config = await (await fetch("demo.json")).json();
  ort.env.wasm.numThreads = 1; // no SharedArrayBuffer needed: any static server will do
  ort.env.wasm.wasmPaths = new URL("ort/", location.href).href;
  const session = await ort.InferenceSession.create(config.model, { executionProviders: ["wasm"] });
  document.getElementById("model").textContent = config.model;
  document.getElementById("what").textContent = config.what;
  const stream = new GraphStream(session, config);
  const replay = document.getElementById("replay");
  replay.onclick = () => streamBundled(stream, config);
  const mic = document.getElementById("mic");
  if (config.audio && config.audio.microphone && navigator.mediaDevices) {
    mic.hidden = false;
    mic.onclick = () => listen(stream, config).catch((e) => { document.getElementById("status").textContent = String(e); });
  }
  await streamBundled(stream, config);
  replay.disabled = false;
}

main().catch((error) => {
  document.getElementById("status").textContent = `error: ${error}`;
  document.getElementById("result").textContent = JSON.stringify({ error: String(error) });
  document.title = "edgernn demo: error";
});
