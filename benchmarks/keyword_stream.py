"""Keywords in continuous recordings: recall and false alarms per hour of exported graphs, on test
streams built from the test split's clips (never trained on, never calibrated on) in noise.

    python benchmarks/keyword_stream.py RUN/model.fp32.onnx RUN/model.int8-dynamic.onnx \
        --data KEYWORD_FOLDER --test-regex '^test_' [--minutes 10] [--snr 20 10 5] [--seed 0] [--out FILE]

For each signal-to-noise ratio, ``--minutes`` of streams (one minute each, ``--stream-seconds``;
trainer/streams.py: the test clips cut to their speech, placed after 0.5-3 s of background
(``--gap-s``), gains of -6 to +6 dB, Gaussian noise at the SNR against the speech placed) are
streamed hop by hop through every graph, never reset unless ``--reset-after-background`` asks, with
its own detector (its calibrated operating point, else the defaults). Events are scored by
runtime/scoring.py's rule: an event catches a keyword when its label is the keyword's and its onset
lies between the keyword's start and 0.5 s after its end; each keyword is caught once; every other
event is a false alarm. Also, from a sweep of the threshold at the operating point's window, minimum
length, refractory period and hold: the false alarms per hour at recall 0.8 and at 0.9.
``--operating-point-of GRAPH`` runs every graph at one graph's calibrated point instead (a quantized
graph at its fp32 graph's point: the quantization's own effect, without a second calibration's).
Writes JSON; prints a Markdown table.
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import time
from pathlib import Path

import numpy as np

from edgernn.runtime import Model
from edgernn.runtime.calibration import OperatingPoint, ScoredStream, clock_of, score_point, stream_probabilities
from edgernn.runtime.splits import load_train_test
from edgernn.runtime.detect import Detector
from edgernn.trainer.streams import StreamRecipe, build_stream
from results_file import write_result
from stream_reset import add_reset_option, reset_policy

SWEEP = (0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995)


def false_alarms_at_recall(points: list[tuple[float, float]], recall: float) -> float | None:
    """The false alarms per hour of the quietest swept setting whose recall reaches ``recall``
    ((recall, false alarms per hour) pairs), None when none does."""
    reaching = [fa for r, fa in points if r is not None and r >= recall]
    return min(reaching) if reaching else None


def operating_point_of(model: Model) -> tuple[OperatingPoint, tuple[str, ...]]:
    """The detector ``edgernn stream`` would run on ``model`` (its calibrated point, else the
    defaults) as an operating point with one threshold per keyword, and the labels it ignores."""
    config = Detector.for_model(model).config
    thresholds = config.threshold if isinstance(config.threshold, dict) else {
        label: config.threshold for label in model.labels if label not in config.ignore}
    return OperatingPoint(config.window, config.min_steps, config.refractory, dict(thresholds), config.hold), config.ignore


def judge(model: Model, streams: list[ScoredStream], point_from: Model | None = None) -> dict:
    """Recall and false alarms of ``model`` on ``streams`` at its own operating point, or at
    ``point_from``'s (another graph of the same run), plus the threshold sweep around it."""
    point, keywords_ignored = operating_point_of(point_from or model)
    clock = clock_of(model)
    score = score_point(streams, model.labels, point, keywords_ignored, clock)
    sweep = []
    for threshold in SWEEP:
        swept = score_point(streams, model.labels, replace(point, thresholds=dict.fromkeys(point.thresholds, threshold)),
                            keywords_ignored, clock)
        sweep.append({"threshold": threshold, "recall": swept.recall(), "false_alarms_per_hour": round(swept.false_alarms_per_hour(), 2)})
    return {"operating_point": point.to_json(), "calibrated": bool((point_from or model).metadata.detector), **score.to_json(),
            "false_alarms_per_minute": round(score.false_alarms_per_hour() / 60, 3),
            **{f"false_alarms_per_hour_at_recall_{recall}": false_alarms_at_recall(
                [(s["recall"], s["false_alarms_per_hour"]) for s in sweep], recall) for recall in (0.8, 0.9)},
            "sweep": sweep}


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="exported audio graphs (.onnx) of one training run")
    parser.add_argument("--data", required=True, help="the recordings folder the run was trained on")
    parser.add_argument("--test-regex", default=None, help="as at training (Speech Commands lists need none)")
    parser.add_argument("--label-regex", default=None, help="as at training")
    parser.add_argument("--minutes", type=float, default=10.0, help="minutes of test stream per SNR")
    parser.add_argument("--stream-seconds", type=float, default=60.0,
                        help="length of one stream, each heard from a fresh state (600: ten minutes without a break)")
    parser.add_argument("--gap-s", type=float, nargs=2, default=list(StreamRecipe.gap_s), metavar=("LOW", "HIGH"),
                        help="background before each keyword, seconds, uniform (long gaps: a listener left alone)")
    add_reset_option(parser)
    parser.add_argument("--snr", type=float, nargs="+", default=[20.0, 10.0, 5.0], help="signal-to-noise ratios, dB")
    parser.add_argument("--operating-point-of", type=Path, default=None, metavar="GRAPH",
                        help="run every graph at this graph's calibrated point (e.g. the fp32 graph's: what a "
                             "quantized graph keeps when its own calibration is skipped) instead of its own")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=None, help="JSON file (default benchmarks/results/keyword_stream-<time>.json)")
    args = parser.parse_args(argv)
    models = [Model(path, threads=1) for path in args.models]
    point_from = Model(args.operating_point_of, threads=1) if args.operating_point_of else None
    for model in models if point_from else ():
        if model.labels != point_from.labels:
            parser.error(f"--operating-point-of {args.operating_point_of}: its labels {point_from.labels} differ from "
                         f"{model.path}'s {model.labels}")
    reset = reset_policy(args.reset_after_background)
    _, test_clips = load_train_test(args.data, None, args.label_regex, args.test_regex)
    rate = models[0].frontend.config.sample_rate
    results = {"data": args.data, "test_clips": len(test_clips), "minutes_per_snr": args.minutes, "seed": args.seed,
               "stream_seconds": args.stream_seconds, "gap_s": args.gap_s,
               "reset_after_background": args.reset_after_background,
               "operating_point_of": str(args.operating_point_of) if point_from else None, "snr": {}}
    for snr in args.snr:
        recipe = StreamRecipe(seconds=args.stream_seconds, gap_s=tuple(args.gap_s), snr_db=snr)
        recordings = [build_stream(test_clips, recipe, args.seed + 1000 * int(snr) + i)
                      for i in range(max(1, round(args.minutes * 60 / args.stream_seconds)))]
        results["snr"][f"{snr:g}"] = {}
        for model in models:
            started = time.perf_counter()
            streams = [ScoredStream(stream_probabilities(model, samples, reset), truth, len(samples) / rate)
                       for samples, truth in recordings]
            entry = judge(model, streams, point_from)
            entry["seconds_to_run"] = round(time.perf_counter() - started, 1)
            results["snr"][f"{snr:g}"][model.metadata.precision] = entry
    write_result(results, "keyword_stream", args.out)
    print("| SNR | graph | recall | false alarms per hour (95% bound) | per minute | at recall 0.8 | at recall 0.9 |")
    print("|---|---|---|---|---|---|---|")
    for snr, by_model in results["snr"].items():
        for precision, e in by_model.items():
            print(f"| {snr} dB | {precision} | {e['recall']} | {e['false_alarms_per_hour']} ({e['false_alarms_per_hour_upper95']}) | "
                  f"{e['false_alarms_per_minute']} | {e['false_alarms_per_hour_at_recall_0.8']} | "
                  f"{e['false_alarms_per_hour_at_recall_0.9']} |")
    return results


if __name__ == "__main__":
    np.seterr(all="ignore")
    main()
