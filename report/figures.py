"""The figures of report.html, each drawn by matplotlib (Agg, no display) and returned as inline
SVG text: readable offline, no image files, text kept as text.

Each function takes plain data (lists, arrays, the JSON a run folder holds) and returns one
``<svg>`` string; none reads files.
"""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")  # before pyplot: no display, no GUI toolkit
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "svg.hashsalt": "edgernn", "font.size": 9, "axes.spines.top": False,
                     "axes.spines.right": False, "figure.dpi": 96})
WIDE = (8.0, 3.0)  # inches: one full-width figure


def to_svg(figure) -> str:
    """The figure as an <svg> element (the XML prolog and doctype dropped), then closed."""
    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": "edgernn"})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]


def learning_curves(history: list[dict]) -> str:
    """Loss and accuracy per epoch, training and (where there is one) validation."""
    epochs = [r["epoch"] for r in history]
    figure, (loss_axis, accuracy_axis) = plt.subplots(1, 2, figsize=WIDE)
    style = {"marker": "o", "markersize": 3} if len(history) <= 30 else {}  # a short run's points show, one alone too
    loss_axis.plot(epochs, [r["loss"] for r in history], label="training", **style)
    accuracy_axis.plot(epochs, [r["train_accuracy"] for r in history], label="training", **style)
    if any(r.get("val_loss") is not None for r in history):
        loss_axis.plot(epochs, [r.get("val_loss") for r in history], label="validation", **style)
        accuracy_axis.plot(epochs, [r.get("val_accuracy") for r in history], label="validation", **style)
    loss_axis.set(xlabel="epoch", ylabel="cross-entropy", title="loss")
    accuracy_axis.set(xlabel="epoch", ylabel="accuracy", title="accuracy", ylim=(0, 1.02))
    for axis in (loss_axis, accuracy_axis):
        axis.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
        if len(epochs) < 3:  # matplotlib's own ticks around one or two epochs are fractions
            axis.set(xlim=(epochs[0] - 0.5, epochs[-1] + 0.5), xticks=epochs)
    loss_axis.legend(frameon=False)
    return to_svg(figure)


def confusion_matrix(confusion: list[list[int]], labels: list[str]) -> str:
    """Counts of test cases by true class (rows) and predicted class (columns)."""
    counts = np.asarray(confusion)
    size = min(8.0, 2.0 + 0.35 * len(labels))
    figure, axis = plt.subplots(figsize=(size, size * 0.85))
    image = axis.imshow(counts, cmap="Blues")
    axis.set(xticks=range(len(labels)), yticks=range(len(labels)), xlabel="predicted", ylabel="true")
    axis.set_xticklabels(labels, rotation=90 if max(map(len, labels)) > 3 else 0)
    axis.set_yticklabels(labels)
    if len(labels) <= 25:
        for (row, column), count in np.ndenumerate(counts):
            if count:
                axis.text(column, row, str(count), ha="center", va="center", fontsize=7,
                          color="white" if count > counts.max() / 2 else "black")
    figure.colorbar(image, ax=axis, fraction=0.046)
    return to_svg(figure)


def step_latency(latency: dict[str, dict]) -> str:
    """Median and 99th-percentile time of one streaming step, per precision (microseconds)."""
    names = list(latency)
    figure, axis = plt.subplots(figsize=(6.0, 2.6))
    at = np.arange(len(names))
    axis.bar(at - 0.2, [latency[n]["step_us_p50"] for n in names], 0.4, label="p50")
    axis.bar(at + 0.2, [latency[n]["step_us_p99"] for n in names], 0.4, label="p99")
    axis.set(xticks=at, ylabel="µs per step", title=f"one step, {_threads(next(iter(latency.values())).get('threads', 1))}")
    axis.set_xticklabels(names)
    axis.legend(frameon=False)
    return to_svg(figure)


def throughput(rows: list[dict]) -> str:
    """Stream-steps per second against the number of streams advanced together (bench.json)."""
    figure, axis = plt.subplots(figsize=(6.0, 2.8))
    for (name, threads), points in _grouped(rows).items():
        points.sort(key=lambda r: r["streams"])
        axis.plot([r["streams"] for r in points], [r["batched_steps_per_s"] for r in points], marker="o",
                  label=f"{name}, {_threads(threads)}")
    axis.set(xscale="log", yscale="log", xlabel="streams", ylabel="stream-steps per second", title="batched throughput")
    axis.legend(frameon=False, fontsize=7)
    return to_svg(figure)


def _threads(count: int) -> str:
    """1 thread, 2 threads; 0 (the library's choice): default threads."""
    return "default threads" if not count else f"{count} thread{'' if count == 1 else 's'}"


def _grouped(rows: list[dict]) -> dict[tuple[str, int], list[dict]]:
    groups: dict[tuple[str, int], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["precision"], row["threads"]), []).append(row)
    return groups


def stream_trace(probs: np.ndarray, labels: list[str], events: list[dict], step_s: float | None,
                 features: np.ndarray | None = None, samples: np.ndarray | None = None, rate: int | None = None,
                 step_name: str = "step") -> str:
    """Class probabilities after every step of one streamed input, with the detector's events
    shaded; above them, for audio, the waveform and the log-mel frames the model read. The x axis
    is in seconds with ``step_s``, else in steps called ``step_name`` ("word" for text)."""
    rows = 1 + (samples is not None) + (features is not None)
    figure, axes = plt.subplots(rows, 1, figsize=(8.0, 1.6 + 1.5 * rows), sharex=True, squeeze=False)
    axes = list(axes[:, 0])
    unit = step_s or 1.0
    axes[0].set_xlim(0, len(samples) / rate if samples is not None else len(probs) * unit)
    if samples is not None:
        axis = axes.pop(0)
        axis.plot(np.arange(len(samples)) / rate, samples, linewidth=0.4)
        axis.set(ylabel="waveform")
    if features is not None:
        axis = axes.pop(0)
        axis.imshow(features.T, origin="lower", aspect="auto", cmap="magma",
                    extent=(0, len(features) * unit, 0, features.shape[1]))
        axis.set(ylabel="log-mel band")
    axis = axes.pop(0)
    steps = np.arange(len(probs)) * unit
    top = np.argsort(probs.max(axis=0))[::-1][:8]  # the classes that matter in this stream
    for index in top:  # a legend leaves out labels that begin with "_" (_background_): a space keeps them
        axis.plot(steps, probs[:, index], label=" " + labels[index] if labels[index].startswith("_") else labels[index],
                  linewidth=1)
    for event in events:
        axis.axvspan(event["start"] * unit, (event["end"] + 1) * unit, color="0.85", zorder=0)
        axis.text(event["start"] * unit, 1.02, event["label"], fontsize=7)
    axis.set(ylim=(0, 1.1), ylabel="probability", xlabel="seconds" if step_s else step_name)
    axis.legend(frameon=False, fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    return to_svg(figure)


def detection_curve(points: list[dict], operating: dict | None) -> str:
    """False alarms per hour against the share of keywords missed, over the calibration sweep
    (the DET curve's points); the chosen operating point marked."""
    figure, axis = plt.subplots(figsize=(5.0, 3.2))
    ordered = sorted(points, key=lambda p: p["false_alarms_per_hour"])
    axis.plot([p["false_alarms_per_hour"] for p in ordered], [p["miss_rate"] for p in ordered], marker=".")
    if operating:
        axis.plot([operating["false_alarms_per_hour"]], [1 - operating["recall"]], marker="*", markersize=12,
                  linestyle="none", label="chosen")
        axis.legend(frameon=False)
    axis.set(xscale="symlog", xlabel="false alarms per hour", ylabel="miss rate", ylim=(0, 1),
             title="detection on validation streams")
    return to_svg(figure)


def tune_front(trials: list[dict], front: list[int], winner: int | None) -> str:
    """Every complete trial's validation accuracy against its graph's bytes; the Pareto front and
    the winner marked."""
    done = [t for t in trials if t.get("validation_accuracy") is not None and t.get("bytes")]
    figure, axis = plt.subplots(figsize=(6.0, 3.2))
    axis.scatter([t["bytes"] for t in done], [t["validation_accuracy"] for t in done], s=14, color="0.6", label="trial")
    best = [t for t in done if t["number"] in front]
    axis.scatter([t["bytes"] for t in best], [t["validation_accuracy"] for t in best], s=22, label="Pareto front")
    chosen = [t for t in done if t["number"] == winner]
    axis.scatter([t["bytes"] for t in chosen], [t["validation_accuracy"] for t in chosen], marker="*", s=120,
                 label="winner")
    axis.set(xscale="log", xlabel="graph bytes", ylabel="validation accuracy", title="search")
    axis.legend(frameon=False, fontsize=7)
    return to_svg(figure)
