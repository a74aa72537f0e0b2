"""`edgernn pipeline`: train, export every precision through its gates, measure, stream, report."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

import numpy as np

from edgernn.export.calibrate import calibrate_run, holds_validation_clips
from edgernn.export.exporter import ExportGateError, export
from edgernn.export.limits import ParityLimits
from edgernn.export.report import build_report
from edgernn.runtime.files import write_json_atomic
from edgernn.runtime.bench import step_latency
from edgernn.runtime.model import Model
from edgernn.runtime.log import log_to_stderr
from edgernn.trainer.train import TrainConfig, TrainOutcome, resume_training, train


def stream_demo(model: Model, sequence: np.ndarray | str, label: str) -> dict:
    """Push one held-out sequence step by step (audio: hop by hop, text: character by character);
    report the answer after its last step."""
    stream = model.stream()
    step = model.frontend.step_length
    probs = np.concatenate(list(stream.push_in_pieces(sequence, step)))
    if len(probs) == 0:
        return {"steps": 0, "label": label, "predicted": None, "score": None}
    final = int(probs[-1].argmax())
    return {"steps": len(probs), "label": label, "predicted": model.labels[final],
            "score": round(float(probs[-1, final]), 4)}


def pipeline(data: str | Path | None, out: str | Path, model_config: dict, config: TrainConfig,
             precisions: tuple[str, ...] | None = None, test: str | Path | None = None,
             threads: int = 1, limits: ParityLimits = ParityLimits(),
             log: Callable[[str], None] = log_to_stderr,
             label_regex: str | None = None, test_regex: str | None = None, strip: tuple[str, ...] = (),
             false_alarms_per_hour: float = 1.0, progress: bool = False) -> dict | None:
    """Run the whole flow into ``out``; writes and returns report.json's content. An audio model
    with a background class is then calibrated for continuous streams at
    ``false_alarms_per_hour`` (export/calibrate.py: report.json gains ``stream``). None on the
    ranks other than 0 of a distributed training, which stop once it is done."""
    if data is None:
        from edgernn.samples import sample_dataset
        data = sample_dataset()
        log(f"no data given: using the bundled sample {data}")
    started = time.perf_counter()
    outcome = train(data, Path(out), model_config, config, test=test, log=log, label_regex=label_regex, test_regex=test_regex,
                    strip=strip, progress=progress)
    return finish_pipeline(outcome, started, precisions, threads, limits, log, false_alarms_per_hour, progress)


def resume_pipeline(run_dir: str | Path, precisions: tuple[str, ...] | None = None, threads: int = 1,
                    limits: ParityLimits = ParityLimits(),
                    log: Callable[[str], None] = log_to_stderr,
                    false_alarms_per_hour: float = 1.0, training_threads: int | None = None,
                    progress: bool = False) -> dict | None:
    """`pipeline --resume RUN`: the interrupted training in ``run_dir`` goes on from its last
    saved epoch (trainer/train.py resume_training), then the rest of the flow as ``pipeline``."""
    started = time.perf_counter()
    outcome = resume_training(run_dir, log=log, threads=training_threads, progress=progress)
    return finish_pipeline(outcome, started, precisions, threads, limits, log, false_alarms_per_hour, progress)


def finish_pipeline(outcome: TrainOutcome | None, started: float, precisions: tuple[str, ...] | None, threads: int,
                    limits: ParityLimits, log: Callable[[str], None], false_alarms_per_hour: float,
                    progress: bool = False) -> dict | None:
    """Everything after training: export through the gates, measure, stream, report, calibrate."""
    if outcome is None:  # a rank other than 0 of a distributed training (trainer/distributed.py)
        return None
    run_dir = outcome.run_dir
    trained = time.perf_counter()
    gate_error = None
    try:
        artifacts, failed = export(outcome.checkpoint, run_dir, precisions, limits=limits, log=log, progress=progress), {}
    except ExportGateError as exc:  # report what passed and what failed, then fail the run
        gate_error, artifacts, failed = exc, exc.artifacts, exc.failed
    exported = time.perf_counter()
    test_set = outcome.test_set
    truth = test_set.label_ids(outcome.labels)
    graph_accuracy, latency, demo = {}, {}, {}
    for precision, artifact in artifacts.items():
        model = Model(artifact.path, threads=threads)
        graph_accuracy[precision] = float((model.predict(test_set.sequences).argmax(axis=1) == truth).mean())
        latency[precision] = step_latency(model)
        log(f"{precision}: graph test accuracy {graph_accuracy[precision]:.4f}, step latency p50 "
            f"{latency[precision]['step_us_p50']} us, p99 {latency[precision]['step_us_p99']} us ({threads} thread)")
        if not demo:
            demo = {"precision": precision, **stream_demo(model, test_set.sequences[0], test_set.labels[0])}
    timing = {"train_s": round(trained - started, 2), "export_s": round(exported - trained, 2),
              "measure_s": round(time.perf_counter() - exported, 2)}
    report = build_report(outcome, artifacts, failed, graph_accuracy, latency, run_dir,
                          extra={"stream_demo": demo, "timing": timing})
    write_json_atomic(run_dir / "report.json", report)
    if holds_validation_clips(run_dir) and artifacts:
        calibrating = time.perf_counter()
        calibrate_run(run_dir, false_alarms_per_hour, log=log)
        report = json.loads((run_dir / "report.json").read_text())
        report["timing"]["calibrate_s"] = round(time.perf_counter() - calibrating, 2)
        write_json_atomic(run_dir / "report.json", report)
    if gate_error is not None:
        raise gate_error
    return report
