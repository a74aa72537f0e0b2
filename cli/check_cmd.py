"""`edgernn check MODEL --data PATH`: the parity gates of one exported file, as a table."""

from __future__ import annotations

import json

import click

from edgernn.cli.options import data_options, json_option, limit_options, parity_limits


@click.command("check")
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.option("--data", type=click.Path(exists=True), required=True,
              help="Held-out data (.ts/.npz file, a folder whose test split is used, or text: a folder of class "
                   "folders or a .csv file).")
@click.option("--checkpoint", type=click.Path(exists=True), default=None,
              help="model.pt (or its run folder): adds the fp32-vs-PyTorch gates.")
@click.option("--reference", type=click.Path(exists=True, dir_okay=False), default=None,
              help="The fp32 graph a quantized file is compared with (default: model.fp32.onnx beside MODEL).")
@data_options
@limit_options
@json_option
def check_command(model_path, data, checkpoint, reference, label_regex, test_regex, strip, as_json, **limits):
    """Run every parity gate that applies to MODEL on held-out DATA; exit 1 naming each failed gate."""
    from edgernn.export.check import baseline_lines, check, format_table
    from edgernn.export.parity import ParityError

    result = check(model_path, data, checkpoint=checkpoint, reference=reference, limits=parity_limits(limits),
                   label_regex=label_regex, test_regex=test_regex, strip=strip)
    if as_json:
        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        click.echo("\n".join([f"{model_path} ({result.precision})", format_table(result), *baseline_lines(result)]))
    if not result.passed:
        raise ParityError(result.failures)
