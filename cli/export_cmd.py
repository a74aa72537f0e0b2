"""`edgernn export CHECKPOINT`: write gated ONNX graphs."""

from __future__ import annotations

import click

from edgernn.cli.options import emit, json_option, parity_line, precision_option


@click.command("export")
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Held-out data for the parity gates (default: the test split recorded at training).")
@precision_option
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Folder for the graphs (default: beside the checkpoint).")
@click.option("--max-diff", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Gate: max |graph - PyTorch| of logits and states.")
@click.option("--stream-max-diff", type=click.FloatRange(min=0, min_open=True), default=1e-5, show_default=True,
              help="Gate: max |chunked - whole| of the graph's outputs.")
@json_option
def export_command(checkpoint, data, precisions, out, max_diff, stream_max_diff, as_json):
    """Export CHECKPOINT (model.pt or its run folder) to model.<precision>.onnx, each file
    passing its parity gates on held-out data before it is written (exit 1 when a gate fails)."""
    from edgernn.export.exporter import export
    from edgernn.export.parity import ParityLimits

    limits = ParityLimits(fp32_max_abs_diff=max_diff, stream_max_abs_diff=stream_max_diff)
    artifacts = export(checkpoint, out, tuple(dict.fromkeys(precisions)), data=data, limits=limits)
    payload = {p: {"path": str(a.path), "bytes": a.bytes, "sha256": a.sha256, "footprint": a.footprint,
                   "parity": {k: v for k, v in a.parity.items() if k != "failures"}} for p, a in artifacts.items()}

    def human():
        for p, a in artifacts.items():
            click.echo(f"{p}: {a.path} ({a.bytes} bytes, {a.footprint['bytes_vs_fp32']:.3f}x fp32); {parity_line(p, a.parity)}")
    emit(payload, as_json, human)
