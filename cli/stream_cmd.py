"""`edgernn stream MODEL DATA`: stream a recording or sequence through a model and print its events (no torch)."""

from __future__ import annotations

import json

import click

from edgernn.cli.options import allow_nonfinite_option, device_option, json_option, threads_option
from edgernn.runtime.detect import (
    BACKGROUND_DETECTION_DEFAULTS, DETECTION_DEFAULTS, PRESET_STEP_S, DetectorConfig, listens_for_events,
)

DEFAULTS_HELP = "Default: the model's calibrated operating point (edgernn calibrate), else"


def preset_help(index: int) -> str:
    """'X, or Y for a model with a background class': runtime/detect.py's two presets, field ``index``."""
    return f"{DETECTION_DEFAULTS[index]:g}, or {BACKGROUND_DETECTION_DEFAULTS[index]:g} for a model with a background class."


AT_HOP_HELP = (f"An audio model's default counts are of {PRESET_STEP_S * 1000:g} ms steps, as many seconds at its own hop "
               "(a 30 ms hop: a third as many steps).")


def _class_threshold(ctx, param, values):
    parsed = {}
    for value in values:
        label, sep, number = value.rpartition("=")
        try:
            parsed[label] = float(number)
        except ValueError:
            label = ""
        if not sep or not label:
            raise click.BadParameter(f"expected LABEL=PROBABILITY, got {value!r}", ctx=ctx, param=param)
    return parsed


@click.command("stream", short_help='Run a graph step by step and print detected events.')
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True,
              help="Which sequence of a .ts/.npz DATA to stream.")
@click.option("--chunk", type=click.IntRange(min=1), default=None,
              help="Input per push: steps of a sequence, or samples of audio (default: one step / one hop).")
@click.option("--window", type=click.IntRange(min=1), default=None,
              help=f"Detection: steps of posterior smoothing (moving average). {DEFAULTS_HELP} {preset_help(0)} "
                   f"{AT_HOP_HELP}")
@click.option("--threshold", type=click.FloatRange(0, 1, min_open=True), default=None,
              help=f"Detection: smoothed probability at which an event starts (every class). {DEFAULTS_HELP} "
                   f"{preset_help(1)}")
@click.option("--class-threshold", multiple=True, callback=_class_threshold, metavar="LABEL=P",
              help="Detection: a threshold for one class (repeatable).")
@click.option("--min-steps", type=click.IntRange(min=1), default=None,
              help=f"Detection: shortest event reported, in steps. {DEFAULTS_HELP} {preset_help(2)}")
@click.option("--refractory", type=click.IntRange(min=0), default=None,
              help=f"Detection: steps after an event during which no new event starts. {DEFAULTS_HELP} "
                   f"{DetectorConfig.refractory}.")
@click.option("--hold", type=click.IntRange(min=0), default=None,
              help=f"Detection: steps an ended event waits before it is reported; an event of another class that "
                   f"starts within them replaces it (a short word heard inside a longer one). {DEFAULTS_HELP} "
                   f"{preset_help(3)} {AT_HOP_HELP}")
@click.option("--ignore", multiple=True, metavar="LABEL",
              help="Detection: a class never reported (repeatable); a model's background class and labels written "
                   "_like_this_ (_unknown_) never are.")
@click.option("--reset-after-background", type=click.IntRange(min=0), default=None, metavar="STEPS",
              help="A model with a background class: zero the state once the model has said background for STEPS "
                   "steps in a row, once per such run (default, and 0: never; docs/streams.md gives why).")
@click.option("--reset-every", type=click.IntRange(min=1), default=None, metavar="STEPS",
              help="Zero the state every STEPS steps (a model's horizon_steps is a good bound).")
@click.option("--steps", "every_step", is_flag=True, help="Also print the top class after every push.")
@device_option
@threads_option
@allow_nonfinite_option
@json_option
def stream_command(model_path, data, index, chunk, window, threshold, class_threshold, min_steps, refractory, hold, ignore,
                   reset_after_background, reset_every, every_step, device, threads, allow_nonfinite, as_json):
    """Stream DATA through MODEL push by push and print the detected events (label, first and last
    step, score; for a model with a background class or a calibrated detector, or when a detection
    flag is given), then the answer after the last step. DATA: a .wav recording for an audio model,
    a .txt document for a text model (CHUNK characters per push), or sequence INDEX of a .ts/.npz
    file. JSON lines with --json.

    \b
    Example:
      edgernn stream runs/kws/model.int8-dynamic.onnx long.wav
      edgernn stream runs/jv/model.fp32.onnx ../shared/data/uea/JapaneseVowels_TEST.ts --index 3 --steps
    """
    from edgernn.runtime import Model, ResetPolicy

    model = Model(model_path, device=device, threads=threads, allow_nonfinite=allow_nonfinite)
    sequence, label = _read_input(model, data, index)
    step = chunk or model.frontend.step_length
    counts = {"window": window, "min_steps": min_steps, "refractory": refractory, "hold": hold}
    flags_given = any(v is not None for v in (threshold, *counts.values())) or bool(class_threshold or ignore)
    detecting = listens_for_events(model) or flags_given
    detector = _detector(model, counts, threshold, class_threshold, ignore) if detecting else None
    if not as_json:
        click.echo(_detector_line(detector.config, model.metadata.detector) if detecting else WHOLE_SEQUENCE_NOTE)
    policy = ResetPolicy(every_steps=reset_every, background_steps=reset_after_background or None)
    stream, events, last = model.stream(reset=policy), [], None
    for probs in stream.push_in_pieces(sequence, step):
        if len(probs):
            last = probs[-1]
            events += detector.push(probs) if detecting else []
            if every_step:
                _echo({"step": stream.steps - 1, "top": model.labels[int(last.argmax())], "score": round(float(last.max()), 4)},
                      as_json, lambda r: f"step {r['step']:>6}  {r['top']}  {r['score']:.4f}")
    events += detector.flush() if detecting else []
    timing = _step_seconds(model)
    for event in events:
        row = event.to_json()
        if timing:
            row.update(start_s=round(timing(event.start), 3), end_s=round(timing(event.end), 3))
        _echo(row, as_json, lambda r: f"event {r['label']}  steps {r['start']}-{r['end']}"
              + (f"  ({r['start_s']:.2f}-{r['end_s']:.2f} s)" if timing else "") + f"  score {r['score']:.4f}")
    final = {"steps": stream.steps, "detection": detecting, "events": len(events), "resets": getattr(stream, "resets", 0)}
    if last is not None:
        final.update(final=model.labels[int(last.argmax())], score=round(float(last.max()), 4))
    if label is not None:
        final["label"] = label
    _echo(final, as_json, lambda r: f"{r['steps']} steps" + (f", {r['events']} events" if detecting else "")
          + f", {r['resets']} state resets"
          + (f"; after the last step: {r['final']} ({r['score']:.4f})" if "final" in r else "")
          + (f"; label {r['label']}" if "label" in r else ""))


WHOLE_SEQUENCE_NOTE = ("no event detection: a model without a background class or a calibrated detector classifies "
                       "whole sequences, and its answer is the one after the last step (--steps shows it after every "
                       "push; a detection flag such as --threshold turns detection on)")


def _detector(model, counts: dict, threshold, class_threshold, ignore):
    """Detector.for_model with the flags given on the command line in place of the file's
    (``counts``: window, min_steps, refractory and hold, None where not given)."""
    from dataclasses import replace

    from edgernn.runtime.detect import Detector, detector_config_for, step_seconds

    base = detector_config_for(model.metadata.detector, model.background, model.labels, step_seconds(model),
                               ignore=tuple(ignore))
    overrides = {name: value for name, value in counts.items() if value is not None}
    if threshold is not None or class_threshold:
        every = threshold if threshold is not None else base.threshold
        per_class = dict(every) if isinstance(every, dict) else dict.fromkeys(model.labels, every)
        overrides["threshold"] = {**per_class, **class_threshold}
    return Detector(model.labels, replace(base, **overrides))


def _detector_line(config, calibrated: dict) -> str:
    thresholds = config.threshold if isinstance(config.threshold, dict) else {"every class": config.threshold}
    source = (f"calibrated for {calibrated.get('target_false_alarms_per_hour', '?')} false alarms per hour"
              if calibrated else "defaults")
    shown = ", ".join(f"{k} {v:g}" for k, v in thresholds.items() if k not in config.ignore)
    return (f"detector ({source}, flags given replace it): window {config.window}, min steps {config.min_steps}, "
            f"refractory {config.refractory}, hold {config.hold}, thresholds {shown}"
            + (f"; ignoring {', '.join(config.ignore)}" if config.ignore else ""))


def _echo(row: dict, as_json: bool, text) -> None:
    click.echo(json.dumps(row) if as_json else text(row))


def _read_input(model, data: str, index: int):
    """(the raw input to stream, its label or None)."""
    from edgernn.runtime import InputError, read_sequences

    if data.lower().endswith(".txt"):
        if model.frontend.kind != "text":
            raise InputError(f"{data}: a text document needs a text model; {model.path.name} takes {model.frontend.kind} input")
        from edgernn.runtime.corpus import read_document

        return read_document(data), None
    if data.lower().endswith(".wav"):
        from edgernn.runtime.wav import read_wav

        if model.frontend.kind != "logmel":
            raise InputError(f"{data}: a WAV recording needs an audio model; {model.path.name} takes "
                             f"{model.frontend.kind} input")
        samples, rate = read_wav(data)
        if rate != model.frontend.config.sample_rate:
            raise InputError(f"{data}: {rate} Hz; the model was trained at {model.frontend.config.sample_rate} Hz "
                             "(resample the recording first)")
        return samples, None
    sequences = read_sequences(data, model.allow_nonfinite)
    if index >= len(sequences):
        raise InputError(f"--index {index} is out of range: {data} holds {len(sequences)} sequences")
    return sequences.sequences[index], sequences.labels[index] if sequences.labels else None


def _step_seconds(model):
    """Audio models: step index -> seconds from the start at which that frame ends; else None."""
    if model.frontend.kind != "logmel":
        return None
    from edgernn.runtime.calibration import clock_of

    return clock_of(model).at
