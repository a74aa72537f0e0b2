"""Spoken digits in continuous recordings: how often the detected events name the digits in order.

For each seed, builds a 10-second recording of random FSDD test-split digits with pauses
(`edgernn.samples.digit_recording`), streams it through MODEL hop by hop from a zero state (never
reset unless ``--reset-after-background`` asks, as `edgernn stream`), and turns the probabilities
into events with the model's own detector (its calibrated operating point, else the defaults) and
with each setting of a small sweep. Writes JSON: per setting, the share of recordings heard exactly
in order, the digit error rate (edit distance between the digits said and heard, over the digits
said) and the events per recording; and every recording's digits said and heard.

    python benchmarks/digit_stream.py runs/fsdd-stream/model.int8-dynamic.onnx --recordings ../shared/data/fsdd/recordings
"""

from __future__ import annotations

import argparse
from dataclasses import replace
import itertools
import json
import sys
from pathlib import Path

import numpy as np

from edgernn.runtime import Model
from edgernn.runtime.calibration import stream_probabilities
from edgernn.runtime.detect import Detector, DetectorConfig, step_seconds, steps_for
from edgernn.samples.digit_recording import digit_stream
from stream_reset import add_reset_option, reset_policy


def edit_distance(said: str, heard: str) -> int:
    """Levenshtein distance: insertions, deletions and substitutions."""
    row = list(range(len(heard) + 1))
    for i, a in enumerate(said, start=1):
        previous, row[0] = row[0], i
        for j, b in enumerate(heard, start=1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (a != b))
    return row[-1]


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", help="an audio model trained with a background class (.onnx)")
    parser.add_argument("--recordings", default="../shared/data/fsdd/recordings")
    parser.add_argument("--seeds", type=int, default=20, help="recordings to build (seeds 0..N-1)")
    parser.add_argument("--digits", type=int, default=8, help="digits per recording")
    parser.add_argument("--windows", default="5,10", help="detector smoothing windows to try, in 10 ms steps "
                        "(taken at the model's hop, as the detector's defaults are)")
    parser.add_argument("--thresholds", default="0.5,0.7", help="detector thresholds to try")
    parser.add_argument("--min-steps", default="1,5,10", help="shortest events to try, in 10 ms steps")
    parser.add_argument("--holds", default="0", help="detector holds to try, in 10 ms steps (0,20: also with the "
                        "hold a calibration may choose; its own detector is also run with each)")
    add_reset_option(parser)
    parser.add_argument("--pause-rms", type=float, default=3e-4,
                        help="RMS of the Gaussian noise in the pauses (full scale 1.0). The test recordings' own quietest "
                             "10 ms range from 5e-5 to 2.5e-2 RMS (median 1.2e-3): each word's edge changes the level")
    parser.add_argument("--out", default="benchmarks/results/digit_stream.json")
    args = parser.parse_args(argv)
    model = Model(args.model, threads=1)
    if model.background is None:
        sys.exit(f"{args.model}: the model has no background class (train it with --background LABEL)")
    reset = reset_policy(args.reset_after_background)
    rng = np.random.default_rng(12345)
    recordings = []
    for seed in range(args.seeds):
        said = "".join(str(d) for d in rng.integers(0, 10, size=args.digits))
        samples, _, _ = digit_stream(args.recordings, said, seed=seed, noise_rms=args.pause_rms)
        recordings.append((said, stream_probabilities(model, samples, reset)))
    settings = []
    step_s = step_seconds(model)
    holds = [steps_for(int(h), step_s) for h in args.holds.split(",")]
    grid = [("swept", DetectorConfig(window=window, threshold=threshold, min_steps=min_steps, hold=hold,
                                     ignore=(model.background,)))
            for window, threshold, min_steps, hold in dict.fromkeys(itertools.product(
                [steps_for(int(w), step_s) for w in args.windows.split(",")], [float(t) for t in args.thresholds.split(",")],
                [steps_for(int(m), step_s) for m in args.min_steps.split(",")], holds))]
    own_config = Detector.for_model(model).config
    own = [("calibrated" if model.metadata.detector else "defaults", own_config)] + [
        ("own, hold changed", replace(own_config, hold=hold)) for hold in holds if hold != own_config.hold]
    for source, config in [*own, *grid]:
        heard_all = []
        for said, probs in recordings:
            heard_all.append("".join(e.label for e in Detector(model.labels, config).events_of(probs)))
        errors = sum(edit_distance(said, heard) for (said, _), heard in zip(recordings, heard_all))
        settings.append({"detector": source, "window": config.window, "threshold": config.threshold,
                         "min_steps": config.min_steps, "refractory": config.refractory, "hold": config.hold,
                         "exact_share": round(float(np.mean([said == heard for (said, _), heard in zip(recordings, heard_all)])), 4),
                         "digit_error_rate": round(errors / sum(len(said) for said, _ in recordings), 4),
                         "events_per_recording": round(float(np.mean([len(h) for h in heard_all])), 2),
                         "heard": heard_all})
    result = {"model": str(args.model), "recordings": args.seeds, "digits_per_recording": args.digits, "pause_rms": args.pause_rms,
              "reset_after_background": args.reset_after_background, "said": [said for said, _ in recordings],
              "settings": settings}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    for s in sorted(settings, key=lambda s: s["digit_error_rate"]):
        print(f"{s['detector']}: window {s['window']:>2} threshold {s['threshold']} min_steps {s['min_steps']:>2} "
              f"hold {s['hold']:>2}: "
              f"exact {s['exact_share']:.2f}, digit error rate {s['digit_error_rate']:.3f}, "
              f"{s['events_per_recording']:.1f} events per recording")
    return result


if __name__ == "__main__":
    main()
