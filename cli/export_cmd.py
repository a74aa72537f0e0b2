"""`edgernn export CHECKPOINT`: write gated ONNX graphs."""

from __future__ import annotations

from pathlib import Path

import click

from edgernn.cli.options import (emit, false_alarms_option, json_option, limit_options, parity_limits, parity_line,
                                 precision_option, show_progress)


@click.command("export", short_help='Export a checkpoint to ONNX graphs through the parity gates.')
@click.argument("checkpoint", type=click.Path(exists=True))
@click.option("--data", type=click.Path(exists=True), default=None,
              help="Held-out data for the parity gates (default: the test split recorded at training).")
@precision_option
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Folder for the graphs (default: beside the checkpoint).")
@click.option("--format", "formats", type=click.Choice(["onnx", "ort"]), multiple=True,
              help="ort: also write each graph in ORT format (model.<precision>.ort, for onnxruntime's minimal builds, "
                   "gated against the .onnx graph) and required_operators.config beside them.  [default: onnx]")
@click.option("--triton", type=click.Path(file_okay=False), default=None,
              help="Also write a Triton Inference Server model repository here: DIR/NAME/1/model.onnx (the fp32 graph "
                   "with batch-first state) and config.pbtxt (sequence batcher, implicit zero-initialised state).")
@click.option("--triton-name", default="edgernn", show_default=True, help="The model's name in the Triton repository.")
@limit_options
@false_alarms_option
@json_option
def export_command(checkpoint, data, precisions, out, formats, triton, triton_name, false_alarms_per_hour, as_json, **limits):
    """Export CHECKPOINT (model.pt or its run folder) to model.<precision>.onnx, each file
    passing its parity gates on held-out data before it is written (exit 1 when a gate fails).
    The graphs of an audio run trained with --background are then calibrated for streams (see
    edgernn calibrate).

    \b
    Example:
      edgernn export runs/jv --precision fp32 --precision int8-dynamic
      edgernn export runs/jv/model.pt --format ort
    """
    from edgernn.export.calibrate import calibrate_run, holds_validation_clips
    from edgernn.export.exporter import export

    artifacts = export(checkpoint, out, tuple(dict.fromkeys(precisions)) or None, data=data, limits=parity_limits(limits),
                       formats=("onnx", *formats), triton=triton, triton_name=triton_name, progress=show_progress(as_json))
    run_dir = Path(checkpoint) if Path(checkpoint).is_dir() else Path(checkpoint).parent
    streams = {}
    if artifacts and holds_validation_clips(run_dir):
        streams = calibrate_run(run_dir, false_alarms_per_hour, graphs=[a.path for a in artifacts.values()])
    payload = {p: {"path": str(a.path), "bytes": a.bytes, "sha256": a.sha256,
                   "footprint": a.footprint, "parity": {k: v for k, v in a.parity.items() if k != "failures"},
                   **({"ort": {"path": str(a.ort["path"]), "bytes": a.ort["bytes"], "sha256": a.ort["sha256"]}}
                      if a.ort else {})}
               for p, a in artifacts.items()}
    for precision, result in streams.items():
        payload[precision].update(result["file"], detector={"operating_point": result["operating_point"], "met": result["met"],
                                                           "validation": {k: result["validation"][k] for k in
                                                                          ("recall", "false_alarms_per_hour")}})

    def human():
        for p, a in artifacts.items():
            click.echo(f"{p}: {a.path} ({a.bytes} bytes, {a.footprint['bytes_vs_fp32']:.3f}x fp32); {parity_line(p, a.parity)}")
            if a.ort:
                click.echo(f"{p}: {a.ort['path']} ({a.ort['bytes']} bytes, ORT format; gates against the .onnx graph passed)")
    emit(payload, as_json, human)
