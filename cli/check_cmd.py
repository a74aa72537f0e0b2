"""`edgernn check MODEL --data PATH`: the parity gates of one exported file, as a table."""

from __future__ import annotations

import json

import click

from edgernn.cli.options import json_option


@click.command("check")
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", type=click.Path(exists=True), required=True,
              help="Held-out data (.ts/.npz file, or a folder whose test split is used).")
@click.option("--checkpoint", type=click.Path(exists=True), default=None,
              help="model.pt (or its run folder): adds the fp32-vs-PyTorch gates.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The fp32 graph a quantized file is compared with (default: model.fp32.onnx beside MODEL).")
@click.option("--max-diff", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="fp32 vs PyTorch: max |difference| of logits and states.")
@click.option("--stream-max-diff", type=click.FloatRange(min=0, min_open=True), default=1e-5, show_default=True,
              help="fp32 graph in chunks vs one call: max |difference|.")
@click.option("--min-agreement", type=click.FloatRange(0, 1), default=0.99, show_default=True,
              help="Quantized vs fp32: minimum share of identical top-1 answers (also chunked vs one call).")
@click.option("--max-accuracy-drop", type=click.FloatRange(min=0), default=0.005, show_default=True,
              help="Quantized vs fp32: maximum test accuracy lost, a fraction (0.005 = half a point).")
@click.option("--long-steps", type=click.IntRange(min=1), default=10_000, show_default=True,
              help="Length of the long stream carried through the state.")
@click.option("--long-min-agreement", type=click.FloatRange(0, 1), default=0.97, show_default=True,
              help="Quantized vs fp32 over the long stream: minimum share of steps with the same top-1 class.")
@json_option
def check_command(model_path, data, checkpoint, reference, max_diff, stream_max_diff, min_agreement,
                  max_accuracy_drop, long_steps, long_min_agreement, as_json):
    """Run every parity gate that applies to MODEL on held-out DATA; exit 1 naming each failed gate."""
    from edgernn.export.check import check, format_table
    from edgernn.export.parity import ParityError, ParityLimits

    limits = ParityLimits(fp32_max_abs_diff=max_diff, stream_max_abs_diff=stream_max_diff,
                          min_top1_agreement=min_agreement, max_accuracy_drop=max_accuracy_drop,
                          long_stream_min_top1_agreement=long_min_agreement)
    result = check(model_path, data, checkpoint=checkpoint, reference=reference, limits=limits, long_steps=long_steps)
    click.echo(json.dumps(result.to_json(), indent=2) if as_json else f"{model_path} ({result.precision})\n{format_table(result)}")
    if not result.passed:
        raise ParityError(result.failures)
