"""`edgernn export CHECKPOINT`: write gated ONNX graphs."""

from __future__ import annotations

import click

from edgernn.cli.options import emit, json_option, limit_options, parity_limits, parity_line, precision_option


@click.command("export")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Held-out data for the parity gates (default: the test split recorded at training).")
@precision_option
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Folder for the graphs (default: beside the checkpoint).")
@limit_options
@json_option
def export_command(checkpoint, data, precisions, out, as_json, **limits):
    """Export CHECKPOINT (model.pt or its run folder) to model.<precision>.onnx, each file
    passing its parity gates on held-out data before it is written (exit 1 when a gate fails)."""
    from edgernn.export.exporter import export

    artifacts = export(checkpoint, out, tuple(dict.fromkeys(precisions)) or None, data=data, limits=parity_limits(limits))
    payload = {p: {"path": str(a.path), "bytes": a.bytes, "sha256": a.sha256, "footprint": a.footprint,
                   "parity": {k: v for k, v in a.parity.items() if k != "failures"}} for p, a in artifacts.items()}

    def human():
        for p, a in artifacts.items():
            click.echo(f"{p}: {a.path} ({a.bytes} bytes, {a.footprint['bytes_vs_fp32']:.3f}x fp32); {parity_line(p, a.parity)}")
    emit(payload, as_json, human)
