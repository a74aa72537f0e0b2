"""Options shared by several verbs, spelled the same everywhere, and the output helper."""

from __future__ import annotations

import dataclasses
import datetime
import json
import sys
from typing import Any, Callable

import click

from edgernn.trainer import defaults as auto
from edgernn.trainer.config import ModelConfig, TrainConfig  # plain dataclasses: no torch import

from edgernn.export.limits import ParityLimits  # plain dataclass: no torch import
from edgernn.runtime.corpus import STRIP_PARTS
from edgernn.runtime.metadata import CELLS, PRECISIONS
from edgernn.trainer.config import READOUTS


def _stack(*decorators: Callable) -> Callable:
    def apply(function: Callable) -> Callable:
        for decorator in reversed(decorators):
            function = decorator(function)
        return function
    return apply


json_option = click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON on stdout.")
false_alarms_option = click.option(
    "--false-alarms-per-hour", type=click.FloatRange(min=0), default=1.0, show_default=True,
    help="Audio trained with --background: the detector is calibrated on validation streams to catch the most keywords "
         "with at most this many false alarms per hour (see edgernn calibrate). Held-out clips are mostly of the "
         "training speakers: on new voices expect about this rate, not less; a hard limit needs a lower budget.")
threads_option = click.option("--threads", type=click.IntRange(min=1), default=None,
                              help="Intra-op threads (default: the library's own choice).")
training_threads_option = click.option(
    "--threads", type=click.IntRange(min=1), default=None,
    help=f"Intra-op threads for training (default: {TrainConfig.threads}; a resumed run: the run's own).")
device_option = click.option("--device", type=click.Choice(["cpu", "cuda"]), default="cpu", show_default=True,
                             help="Where onnxruntime runs the graph.")
allow_nonfinite_option = click.option("--allow-nonfinite", is_flag=True,
                                      help="Pass NaN/Inf inputs to the model instead of refusing them.")
precision_option = click.option("--precision", "precisions", type=click.Choice(PRECISIONS), multiple=True,
                                help="Precision to export (repeatable; default: every one, less int8-static for a "
                                     "pooled read-out).")
test_option = click.option("--test", "test", type=click.Path(exists=True), default=None,
                           help="Test split: a file, or a folder of WAV files (default: the file beside DATA "
                                "with TEST for TRAIN in its name).")



def parse_strip_parts(ctx, param, value):
    if not value:
        return ()
    parts = tuple(dict.fromkeys(p.strip() for p in value.split(",")))
    unknown = [p for p in parts if p not in STRIP_PARTS]
    if unknown:
        raise click.BadParameter(f"unknown part(s) {unknown}; expected some of {', '.join(STRIP_PARTS)} separated by commas",
                                 ctx=ctx, param=param)
    return parts


data_options = _stack(
    click.option("--label-regex", default=None, metavar="PATTERN",
                 help="Folder of WAV files: take each label from the file name (the pattern's first group)."),
    click.option("--test-regex", default=None, metavar="PATTERN",
                 help="Folder of WAV files: files whose name matches form the test split."),
    click.option("--strip", default="", callback=parse_strip_parts, metavar="PARTS",
                 help="Text data: remove these parts of Usenet posts, any of headers,footers,quotes "
                      "(as scikit-learn's fetch_20newsgroups remove=... does)."),
)

text_options = _stack(
    click.option("--max-vocab", type=click.IntRange(min=3), default=TrainConfig.max_vocab, show_default=True,
                 help="Text: vocabulary size, padding and unknown-word ids included."),
    click.option("--min-count", type=click.IntRange(min=1), default=TrainConfig.min_count, show_default=True,
                 help="Text: a word seen fewer times in training becomes the unknown word."),
    click.option("--max-tokens", type=click.IntRange(min=1), default=TrainConfig.max_tokens, show_default=True,
                 help="Text: a document keeps its first this many words."),
    click.option("--token-dropout", type=click.FloatRange(0, 1, max_open=True), default=TrainConfig.token_dropout,
                 show_default=True, help="Token data: share of words read as the unknown word while training."),
    click.option("--word-vectors", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="Text: a word2vec/GloVe text file whose vectors initialise the embedding (--embed-dim must match)."),
    click.option("--pretrain-epochs", type=click.IntRange(min=0), default=TrainConfig.pretrain_epochs, show_default=True,
                 help="Text: first train skip-gram word vectors on the training split for this many epochs "
                      "and start the embedding from them (0: off)."),
    click.option("--freeze-embedding", is_flag=True,
                 help="Text: keep the word vectors of --word-vectors / --pretrain-epochs fixed while training."),
)

audio_options = _stack(
    click.option("--window-ms", type=click.FloatRange(min=0, min_open=True), default=TrainConfig.window_ms,
                 show_default=True, help="Audio: milliseconds per log-mel frame."),
    click.option("--hop-ms", type=click.FloatRange(min=0, min_open=True), default=TrainConfig.hop_ms,
                 show_default=True, help="Audio: milliseconds between frames (one recurrent step)."),
    click.option("--mel-bands", type=click.IntRange(1, 256), default=TrainConfig.mel_bands, show_default=True,
                 help="Audio: log-mel bands per frame."),
    click.option("--mean-norm-ms", type=click.FloatRange(min=0), default=TrainConfig.mean_norm_ms, show_default=True,
                 help="Audio: time constant of the running per-band mean subtracted from every frame (0: off)."),
    click.option("--background", default=TrainConfig.background, metavar="LABEL",
                 help="Audio: a background class LABEL for continuous streams (quiet stretches of the recordings and "
                      "low-level noise; word clips get lead-ins and trails of it). LABEL may be a class the data has "
                      "(noise or silence clips): its clips are kept and join the mix. 10% of the clips are held out "
                      "before the mix to calibrate the detector on."),
    click.option("--preceding-share", type=click.FloatRange(0, 1), default=TrainConfig.preceding_share, show_default=True,
                 help="Audio with --background: share of word clips also trained right after the end of another "
                      "class's word."),
    click.option("--stream-noise", "noise_share", type=click.FloatRange(0, 1), default=TrainConfig.noise_share,
                 show_default=True, help="Audio with --background: share of training clips mixed with noise at an SNR "
                                         "drawn from --snr-db (Gaussian, or the data's own background clips)."),
    click.option("--snr-db", type=(float, float), default=TrainConfig.snr_db, show_default=True, metavar="LOW HIGH",
                 help="Audio with --background: the range of --stream-noise's signal-to-noise ratios, dB."),
    click.option("--gain-db", type=click.FloatRange(min=0), default=TrainConfig.gain_db, show_default=True,
                 help="Audio with --background: training clips scaled by a random gain within +-this many dB."),
    click.option("--room-change-share", type=click.FloatRange(0, 1), default=TrainConfig.room_change_share,
                 show_default=True, help="Audio with --background: share of word clips whose lead-in (and trail) is "
                                         "background at a random level (-100 to -30 dBFS), not their own room's."),
    click.option("--noise-onset-share", type=click.FloatRange(0, 1), default=TrainConfig.noise_onset_share,
                 show_default=True, help="Audio with --background LABEL naming a class the data has: share of its "
                                         "clips also trained as a noise that starts after quiet, labelled LABEL."),
    click.option("--band-warp", type=click.FloatRange(0, 0.5, max_open=True), default=TrainConfig.band_warp,
                 show_default=True, help="Audio: each batch's log-mel bands resampled by a random factor within "
                                         "1 +- this (new voices' formants sit elsewhere); 0: off."),
    click.option("--band-mask", type=click.IntRange(min=0), default=TrainConfig.band_mask, show_default=True,
                 help="Audio: in each batch, one run of up to this many bands of every clip set to the mean; 0: off."),
    click.option("--time-mask", type=click.IntRange(min=0), default=TrainConfig.time_mask, show_default=True,
                 help="Audio: in each batch, one run of up to this many steps of every clip set to the mean; 0: off."),
)

model_options = _stack(
    click.option("--cell", type=click.Choice(CELLS), default=ModelConfig.cell, show_default=True, help="Recurrent cell."),
    click.option("--hidden", type=click.IntRange(min=1), default=ModelConfig.hidden, show_default=True,
                 help="State width per layer."),
    click.option("--layers", type=click.IntRange(1, 3), default=ModelConfig.layers, show_default=True,
                 help="Stacked recurrent layers."),
    click.option("--dropout", type=click.FloatRange(0, 1, max_open=True), default=ModelConfig.dropout, show_default=True,
                 help="Dropout between layers and before the head (training only)."),
    click.option("--embed-dim", type=click.IntRange(min=1), default=ModelConfig.embed_dim, show_default=True,
                 help="Embedding width for token-id data."),
    click.option("--readout", type=click.Choice(READOUTS), default=None,
                 help="What the head reads: the last step's output, or the mean or the attention-weighted mean of "
                 "every step's so far (carried as extra state; suits documents). Default: mean for text, else last."),
)

train_options = _stack(
    click.option("--epochs", type=click.IntRange(min=1), default=None,
                 help=f"Passes over the training split (default: enough for ~{auto.UPDATES:,} updates, "
                      f"{auto.MIN_EPOCHS} to {auto.MAX_EPOCHS})."),
    click.option("--batch-size", type=click.IntRange(min=1), default=None,
                 help="Cases per update (default: 16 below 2,000 training cases, 32 below 20,000, else 64)."),
    click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
                 help=f"AdamW's learning rate after a linear warm-up over {TrainConfig.warmup_share:.0%} of the updates, "
                      "then a cosine decay "
                      f"(default: {auto.LEARNING_RATE:g})."),
    click.option("--warmup", "warmup_share", type=click.FloatRange(0, 1, max_open=True), default=TrainConfig.warmup_share,
                 show_default=True, help="Share of the updates over which the learning rate rises linearly to --lr."),
    click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=None,
                 help="Stratified share of the training split held out to choose the kept weights and stop early "
                      f"(default: {auto.VALIDATION_SHARE:g} from {auto.VALIDATION_FROM:,} training cases, "
                      "else 0: the last weights are kept)."),
    click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True),
                 default=TrainConfig.test_fraction, show_default=True,
                 help="Data without a test split (no --test, no TEST sibling, no --test-regex): the stratified share "
                 "of each class held out as the test split, drawn with --seed and recorded in the report."),
    click.option("--patience", type=click.IntRange(min=1), default=None,
                 help="Early stopping: epochs without a better validation score (default: a quarter of the epochs, "
                      "at least 5)."),
    click.option("--frame", type=click.IntRange(min=1), default=None,
                 help=f"Feature series: raw steps stacked into one recurrent step (default: a median case in at most "
                      f"~{auto.FRAME_STEPS} steps; 1: no framing)."),
    click.option("--input-noise", type=click.FloatRange(min=0), default=TrainConfig.input_noise, show_default=True,
                 help="Std of Gaussian noise added to standardised features while training."),
    click.option("--class-weights", is_flag=True, help="Weight the loss by inverse class frequency."),
    click.option("--seed", type=int, default=TrainConfig.seed, show_default=True,
                 help="Seeds the split, the initial weights, batches, noise and dropout: the same seed and --threads "
                      "give the same model on the same machine."),
)


LIMITS = ParityLimits()
limit_options = _stack(
    click.option("--max-diff", type=click.FloatRange(min=0, min_open=True), default=LIMITS.fp32_max_abs_diff,
                 show_default=True, help="Gate: fp32 graph vs PyTorch, max |difference| of logits and states."),
    click.option("--stream-max-diff", type=click.FloatRange(min=0, min_open=True), default=LIMITS.stream_max_abs_diff,
                 show_default=True, help="Gate: fp32 graph in chunks vs one call, max |difference|."),
    click.option("--min-agreement", type=click.FloatRange(0, 1), default=LIMITS.min_top1_agreement, show_default=True,
                 help="Gate: quantized vs fp32, minimum share of identical top-1 answers (also chunked vs one call)."),
    click.option("--max-accuracy-drop", type=click.FloatRange(min=0), default=LIMITS.max_accuracy_drop, show_default=True,
                 help="Gate: quantized vs fp32, maximum test accuracy lost, a fraction (0.005 = half a point)."),
    click.option("--long-steps", type=click.IntRange(min=1), default=LIMITS.long_stream_steps, show_default=True,
                 help="Length of the long stream carried through the state."),
    click.option("--long-min-agreement", type=click.FloatRange(0, 1), default=LIMITS.long_stream_min_top1_agreement,
                 show_default=True,
                 help="Gate: quantized vs fp32 over the long stream, minimum share of steps with the same top-1 class; "
                      "not judged for a model whose own float32 and float64 runs agree less often (the class-shift "
                      "gate judges it instead)."),
    click.option("--float32-factor", type=click.FloatRange(min=0), default=LIMITS.float32_error_factor, show_default=True,
                 help="fp32 gates: allow this many times PyTorch's own float32 error (vs float64) when it exceeds "
                      "--max-diff / the long-stream limit; 0 holds the graph to those limits as given."),
)


def parity_limits(options: dict) -> ParityLimits:
    """ParityLimits from the limit options."""
    return ParityLimits(fp32_max_abs_diff=options["max_diff"], stream_max_abs_diff=options["stream_max_diff"],
                        min_top1_agreement=options["min_agreement"], max_accuracy_drop=options["max_accuracy_drop"],
                        long_stream_steps=options["long_steps"], long_stream_min_top1_agreement=options["long_min_agreement"],
                        float32_error_factor=options["float32_factor"])


def model_config(options: dict) -> dict:
    return {k: options[k] for k in ("cell", "hidden", "layers", "dropout", "embed_dim", "readout")}


def train_config(options: dict, threads: int | None) -> TrainConfig:
    """The TrainConfig the train options ask for: every option named as a TrainConfig field sets
    that field (the options' defaults are the fields' own)."""
    given = {f.name: options[f.name] for f in dataclasses.fields(TrainConfig) if f.name in options}
    return TrainConfig(**{**given, "snr_db": tuple(given["snr_db"]), "word_vectors": given["word_vectors"] or "",
                          "threads": threads or TrainConfig.threads})


def default_run_dir(cell: str) -> str:
    return f"runs/{cell}-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}"


def show_progress(as_json: bool) -> bool:
    """Progress bars only for a person watching: stderr a terminal, and no --json."""
    return not as_json and sys.stderr.isatty()


def emit(payload: Any, as_json: bool, human: Callable[[], None]) -> None:
    """JSON on stdout with --json, else the human summary."""
    if as_json:
        click.echo(json.dumps(payload, indent=2))
    else:
        human()


def parity_line(precision: str, parity: dict) -> str:
    """One line per exported precision: the gate values that matter for it."""
    front = parity.get("frontend_in_graph")
    if front:  # an audio file that computes its own frames: against its graph fed the Python front end's
        return (f"{parity_line(precision, {k: v for k, v in parity.items() if k != 'frontend_in_graph'})}; front end in "
                f"the graph: max logit diff {front['max_abs_diff']:.2e} from the Python front end's, "
                f"top-1 agreement {front['top1_agreement']:.4f} on {front['sequences']} recordings")
    if precision == "fp32":
        own = f" (PyTorch's own float32 error {parity['float32_error']:.2e})" if "float32_error" in parity else ""
        horizon = parity.get("long_stream", {})
        steps = (f"; reproducible for {horizon['horizon_steps']} of {horizon['steps']} long-stream steps"
                 if horizon.get("horizon_steps", horizon.get("steps")) != horizon.get("steps") else "")
        return f"max|onnx - torch| {parity['max_abs_diff']:.2e}{own}, stream {parity['stream_max_abs_diff']:.2e}{steps}"
    drop = f", accuracy drop {parity['accuracy_drop']:.4f}" if "accuracy_drop" in parity else ""
    return (f"top-1 agreement with fp32 {parity['top1_agreement']:.4f}{drop}, "
            f"max logit diff {parity['logit_max_rel_diff']:.3f} of the logit std, stream {parity['stream_max_abs_diff']:.2e}")
