"""report.html: one self-contained page about a run folder, for people to look at.

    write_report_html(run_dir) -> run_dir/report.html

It reads report.json, metrics.json and history.json (and bench.json when `edgernn bench RUN
--out RUN/bench.json` wrote one), streams one test input through the fp32 graph with the runtime,
and lays out: the summary, learning curves, the confusion matrix, per-class precision, recall and
F1, the baselines, a table of the precisions (bytes, accuracy, agreement, step latency, every gate
pass or fail), the step latency, the throughput against stream count, the stream trace (with the
waveform and log-mel frames of an audio input), and the detection curve and search front where
the run has them. Figures are inline SVG (report/figures.py); nothing is fetched.
"""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np

from edgernn.report import figures
from edgernn.runtime.files import write_bytes_atomic
from edgernn.runtime.errors import InputError

STREAM_CLIPS = 4      # audio: test recordings joined into the traced stream
STREAM_GAP_S = 0.5    # silence between them, seconds

STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 980px; color: #222; padding: 0 1em; }
h1 { font-size: 1.5em; margin-bottom: .2em; } h2 { font-size: 1.15em; margin-top: 2em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: .6em 0; font-size: 13px; } td, th { padding: .25em .7em; text-align: right; }
th { background: #f4f4f4; } td:first-child, th:first-child { text-align: left; }
tr:nth-child(even) td { background: #fafafa; } .pass { color: #176f2c; } .fail { color: #b00020; font-weight: 600; }
figure { margin: 1em 0; } figure svg { max-width: 100%; height: auto; } figcaption { color: #555; font-size: 12px; }
.muted { color: #777; } .warning { color: #8a5a00; }
"""


def write_report_html(run_dir: str | Path) -> Path:
    """Write run_dir/report.html (atomically) and return its path."""
    run_dir = Path(run_dir)
    return write_bytes_atomic(run_dir / "report.html", build_report_html(run_dir).encode("utf-8"))


def build_report_html(run_dir: Path) -> str:
    report = read_json(run_dir, "report.json", "run `edgernn pipeline` (or `edgernn export RUN`) first")
    metrics = read_json(run_dir, "metrics.json", "the run folder is incomplete")
    history = read_json(run_dir, "history.json", "the run folder is incomplete")
    test = metrics.get("test") or {}
    labels = [row["label"] for row in test.get("per_class", [])]
    sections = [summary(report, test), figure_section("Learning curves", figures.learning_curves(history),
                                                      "Loss and accuracy per epoch; validation where the run held one out.")]
    if test.get("confusion"):
        sections.append(figure_section("Confusion matrix", figures.confusion_matrix(test["confusion"], labels),
                                       f"Test split, {test.get('cases', '?')} cases: true class by row, answer by column."))
        sections.append(per_class_table(test["per_class"]))
    sections.append(baselines_table(report.get("baselines") or {}, report["metrics"]["test_accuracy"]))
    sections.append(precisions_table(report))
    if report.get("latency"):
        sections.append(figure_section("Step latency", figures.step_latency(report["latency"]),
                                       "One Stream.push of one step, measured by the pipeline (2,000 steps)."))
    bench = run_dir / "bench.json"
    if bench.is_file():
        rows = [{**row, "precision": name} for name, model in json.loads(bench.read_text())["models"].items()
                for row in model.get("throughput", [])]
        if rows:
            sections.append(figure_section("Throughput", figures.throughput(rows),
                                           "StreamBatch.push_array of every stream at once (bench.json)."))
    sections.append(trace_section(run_dir, metrics.get("dataset") or {}, report))
    for precision, stream in (report.get("stream") or {}).items():
        overall = stream.get("det", {}).get("overall")
        if overall:
            sections.append(figure_section(f"Detection, {precision}", figures.detection_curve(overall, stream.get("validation")),
                                           f"Operating point: {html.escape(json.dumps(stream.get('operating_point')))}"))
    if report.get("tune"):
        tune = report["tune"]
        sections.append(figure_section("Search", figures.tune_front(tune["trials"], tune["pareto_front"], tune["winner"]),
                                       f"{len(tune['trials'])} trials; winner trial {tune['winner']}."))
    title = f"{report['dataset']['name']}: {report['model']['cell']} {report['model']['layers']}x{report['model']['hidden']}"
    return (f"<!doctype html>\n<html lang='en'><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n<h1>{html.escape(title)}</h1>\n" + "\n".join(sections)
            + f"\n<p class='muted'>{html.escape(str(run_dir))}</p></body></html>\n")


def read_json(run_dir: Path, name: str, advice: str):
    path = run_dir / name
    if not path.is_file():
        raise InputError(f"{run_dir}: no {name} ({advice})")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc})") from None


def summary(report: dict, test: dict) -> str:
    data, model, result = report["dataset"], report["model"], report["metrics"]
    lines = [f"{data['train']} training, {data.get('validation', 0)} validation and {data['test']} test cases, "
             f"{data['classes']} classes; {model['parameters']:,} parameters.",
             f"Test accuracy <b>{result['test_accuracy']:.2%}</b>, macro F1 {result.get('macro_f1', float('nan')):.4f}; "
             f"{html.escape(result.get('kept', ''))}."]
    warnings = "".join(f"<p class='warning'>warning: {html.escape(w)}</p>" for w in report.get("warnings", []))
    return "<section>" + "".join(f"<p>{line}</p>" for line in lines) + warnings + "</section>"


def figure_section(title: str, svg: str, caption: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2><figure>{svg}<figcaption>{caption}</figcaption></figure></section>"


def table(headers: list[str], rows: list[list]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def per_class_table(per_class: list[dict]) -> str:
    rows = [[html.escape(r["label"]), f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}", r["support"]]
            for r in per_class]
    return "<section><h2>Per class</h2>" + table(["class", "precision", "recall", "F1", "test cases"], rows) + "</section>"


def baselines_table(baselines: dict, accuracy: float) -> str:
    rows = [["this model", f"{accuracy:.2%}"]]
    for name, entry in baselines.items():
        what = entry.get("model") or (f"always {entry['label']!r}" if "label" in entry else name)
        rows.append([html.escape(f"{name}: {what}"), f"{entry['accuracy']:.2%}"])
    return "<section><h2>Baselines</h2>" + table(["model", "test accuracy"], rows) + "</section>"


def precisions_table(report: dict) -> str:
    rows, gates = [], []
    for precision, artifact in report.get("artifacts", {}).items():
        parity, latency = report["parity"].get(precision, {}), report.get("latency", {}).get(precision, {})
        passed = parity.get("passed")
        rows.append([precision, f"{artifact['bytes']:,}", f"{report['footprint'][precision]['bytes_vs_fp32']:.3f}x",
                     f"{parity.get('test_accuracy', float('nan')):.2%}",
                     f"{parity['top1_agreement']:.4f}" if "top1_agreement" in parity else "—",
                     f"{latency.get('step_us_p50', '—')} / {latency.get('step_us_p99', '—')}",
                     "<span class='pass'>pass</span>" if passed else "<span class='fail'>FAIL</span>"])
        gates += [[precision, html.escape(g["gate"]), f"{g['value']:.4g}", f"{g['relation']} {g['limit']:.4g}",
                   "<span class='pass'>pass</span>" if g["passed"] else "<span class='fail'>FAIL</span>"]
                  for g in parity.get("gates", [])]
    headers = ["precision", "bytes", "vs fp32", "test accuracy", "agreement with fp32", "step µs p50 / p99", "gates"]
    return ("<section><h2>Precisions</h2>" + table(headers, rows) + "<h2>Parity gates</h2>"
            + table(["precision", "gate", "value", "limit", "result"], gates) + "</section>")


def trace_section(run_dir: Path, dataset: dict, report: dict) -> str:
    """One test input streamed through the fp32 graph, step by step."""
    from edgernn.runtime import Model
    from edgernn.runtime.detect import Detector, listens_for_events

    graph = run_dir / (report.get("artifacts", {}).get("fp32", {}).get("path") or "model.fp32.onnx")
    if not graph.is_file():
        return "<section><h2>Stream trace</h2><p class='muted'>No fp32 graph to stream.</p></section>"
    model = Model(graph, threads=1)
    try:
        sequence, what = sample_input(dataset, model)
    except (OSError, InputError) as exc:
        return f"<section><h2>Stream trace</h2><p class='muted'>The test data cannot be read: {html.escape(str(exc))}</p></section>"
    audio = model.frontend.kind == "logmel"
    probs = model.stream().push(sequence)
    detecting = listens_for_events(model)
    events = [e.to_json() for e in (Detector.for_model(model).events_of(probs) if detecting else [])]
    step_s = model.frontend.config.hop / model.frontend.config.sample_rate if audio else None
    features = model.frontend.norm(model.frontend.logmel.frames(sequence)) if audio else None
    svg = figures.stream_trace(probs, model.labels, events, step_s, features, sequence if audio else None,
                               model.frontend.config.sample_rate if audio else None,
                               "word" if model.frontend.kind == "text" else "step")
    found = f"; events: {', '.join(e['label'] for e in events) or 'none'}" if detecting else ""
    return figure_section("Stream trace", svg, f"{html.escape(what)}, streamed through the fp32 graph; the answer after "
                          f"the last step: {html.escape(model.labels[int(probs[-1].argmax())])}{found}.")


def sample_input(dataset: dict, model) -> tuple[np.ndarray | str, str]:
    """(an input from the run's test split, what it is in words): for audio, up to STREAM_CLIPS
    recordings of different words joined by STREAM_GAP_S of silence; else test case 0.
    dataset: metrics.json's ``dataset`` (its ``load`` says how the splits were read)."""
    from edgernn.runtime.splits import load_train_test

    load = dataset.get("load")
    if not load:
        raise InputError("the run does not record how its data was read (metrics.json dataset.load)")
    _, test_set = load_train_test(load["data"], load["test"], load["label_regex"], load["test_regex"],
                                  tuple(load["strip"]), load["test_fraction"], load["seed"])
    if model.frontend.kind != "logmel":
        return test_set.sequences[0], f"test case 0 (label {test_set.labels[0]})"
    rate = model.frontend.config.sample_rate
    gap = np.zeros(int(STREAM_GAP_S * rate), np.float32)
    quiet = {model.background, *(label for label in model.labels if label.startswith("_"))}
    picked = first_of_each_label(test_set.labels, STREAM_CLIPS, skip=quiet)
    joined = np.concatenate([part for i in picked for part in (gap, np.asarray(test_set.sequences[i], np.float32))] + [gap])
    said = ", ".join(test_set.labels[i] for i in picked)
    return joined, f"{len(picked)} test recordings ({said}) joined by {STREAM_GAP_S:g} s of silence"


def first_of_each_label(labels: list[str], count: int, skip: set = frozenset()) -> list[int]:
    """Indices of the first case of up to ``count`` different labels, in order, those in ``skip``
    (background and _unknown_ words) only when too few others exist."""
    seen: dict[str, int] = {}
    for index, label in sorted(enumerate(labels), key=lambda pair: pair[1] in skip):
        seen.setdefault(label, index)
        if len(seen) == count:
            break
    return sorted(seen.values())
