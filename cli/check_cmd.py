"""`edgernn check MODEL --data PATH`: the parity gates of one exported file, as a table."""

from __future__ import annotations

import json

import click

from edgernn.cli.options import data_options, json_option, limit_options, parity_limits


@click.command("check", short_help='Judge a graph: parity gates, or recall on recordings.')
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Held-out data (.ts/.npz file, a folder whose test split is used, or text: a folder of class "
                   "folders or a .csv file).")
@click.option("--stream", "stream_wavs", multiple=True, type=click.Path(exists=True, dir_okay=False), metavar="WAV",
              help="An audio model: judge it on this recording, streamed hop by hop through its detector (repeatable; "
                   "each with a --truth).")
@click.option("--truth", "truths", multiple=True, type=click.Path(exists=True, dir_okay=False), metavar="JSON",
              help="What is said in the --stream of the same position: a JSON list of {label, start_s, end_s}.")
@click.option("--min-recall", type=click.FloatRange(0, 1), default=0.9, show_default=True,
              help="Gate (--stream): keywords caught, a share of those said (matching rule: docs/streams.md).")
@click.option("--max-false-alarms-per-hour", type=click.FloatRange(min=0), default=None,
              help="Gate (--stream): false alarms per hour of recording (default: the budget the file was "
                   "calibrated for, else 1).")
@click.option("--checkpoint", type=click.Path(exists=True), default=None,
              help="model.pt (or its run folder): adds the fp32-vs-PyTorch gates.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The fp32 graph a quantized file is compared with (default: model.fp32.onnx beside MODEL).")
@data_options
@limit_options
@json_option
def check_command(model_path, data, stream_wavs, truths, min_recall, max_false_alarms_per_hour, checkpoint, reference,
                  label_regex, test_regex, strip, as_json, **limits):
    """Run every parity gate that applies to MODEL on held-out DATA, and/or judge an audio MODEL
    on recordings (--stream WAV --truth JSON: recall and false alarms per hour); exit 1 naming
    each failed gate.

    \b
    Example:
      edgernn check runs/jv/model.int8-dynamic.onnx --data ../shared/data/uea/JapaneseVowels_TEST.ts
      edgernn check runs/kws/model.fp32.onnx --stream long.wav --truth long.json --min-recall 0.9
    """
    from edgernn.export.check import CheckResult, baseline_lines, check, format_table, stream_check, stream_lines
    from edgernn.export.gates import ParityError

    if data is None and not stream_wavs:
        raise click.UsageError("give --data (the parity gates), --stream WAV --truth JSON (stream gates), or both")
    if len(stream_wavs) != len(truths):
        raise click.BadParameter(f"every --stream needs its --truth: {len(stream_wavs)} recordings, {len(truths)} truth files",
                                 param_hint="--truth")
    result = CheckResult(str(model_path), "")
    if data is not None:
        result = check(model_path, data, checkpoint=checkpoint, reference=reference, limits=parity_limits(limits),
                       label_regex=label_regex, test_regex=test_regex, strip=strip)
    if stream_wavs:
        streamed = stream_check(model_path, list(zip(stream_wavs, truths)), min_recall, max_false_alarms_per_hour)
        result.precision, result.gates = streamed.precision, result.gates + streamed.gates
        result.details.update(streamed.details)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo("\n".join([f"{model_path} ({result.precision})", format_table(result), *baseline_lines(result),
                              *stream_lines(result)]))
    if not result.passed:
        raise ParityError(result.failures)
