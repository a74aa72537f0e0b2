"""`edgernn info MODEL`: what an exported graph is, read from its own metadata (no torch)."""

from __future__ import annotations

from pathlib import Path

import click

from edgernn.cli.options import emit, json_option, parity_line
from edgernn.runtime.metadata import baselines_line


@click.command("info", short_help='Describe a graph or every graph of a run folder.')
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True))
@json_option
def info_command(model_path, as_json):
    """Describe MODEL (.onnx or .ort, or every model.*.onnx of a run folder): cell, size, inputs and
    outputs, labels, front end, parity, producer, and the operators it needs (and which onnxruntime's
    reduced mobile package lacks).

    \b
    Example:
      edgernn info runs/sample/model.int8-dynamic.onnx
      edgernn info runs/sample --json
    """
    if not Path(model_path).is_dir():
        payload, human = described(model_path)
        emit(payload, as_json, human)
        return
    graphs = sorted(Path(model_path).glob("model.*.onnx")) + sorted(Path(model_path).glob("model.*.ort"))
    if not graphs:
        raise click.BadParameter(f"{model_path} holds no exported graph (model.<precision>.onnx): run "
                                 f"`edgernn export {model_path}` first", param_hint="MODEL")
    found = [described(str(path)) for path in graphs]
    emit([payload for payload, _ in found], as_json, lambda: [human() for _, human in found])


def described(model_path: str):
    """(info's JSON for one graph file, the function that prints it for people)."""
    from edgernn.runtime import Model
    from edgernn.runtime.external_data import is_ort_format, required_operators
    from edgernn.runtime.ort_packages import REDUCED_MOBILE_RELEASES, missing_from_reduced_mobile

    model = Model(model_path)
    meta = model.metadata
    blob = model.path.read_bytes()
    operators = None if is_ort_format(blob) else required_operators(blob)
    payload = {
        "path": model_path, "bytes": model.path.stat().st_size, "schema_version": meta.schema_version,
        "cell": meta.cell, "layers": meta.layers, "hidden": meta.hidden, "precision": meta.precision,
        "input_kind": meta.input_kind, "features": meta.features, "vocab_size": meta.vocab_size,
        "labels": meta.labels, "frontend": {k: v for k, v in meta.frontend.items() if k not in ("mean", "std")},
        "inputs": {i.name: [i.type, i.shape] for i in model.session.get_inputs()},
        "outputs": {o.name: [o.type, o.shape] for o in model.session.get_outputs()},
        "state": [s.to_json() for s in meta.state], "parity": meta.parity, "source": meta.source,
        "producer": meta.producer, "runtime": meta.runtime, "footprint": meta.footprint, "dataset": meta.dataset,
        "operators": None if operators is None else [f"{d};{v};{op}" for d, v, op in operators],
        "missing_from_reduced_mobile_package": None if operators is None else missing_from_reduced_mobile(operators),
    }

    def human():
        size = f"{meta.features} features" if meta.input_kind == "features" else f"vocabulary {meta.vocab_size}"
        click.echo(f"{model_path}: {meta.cell} {meta.layers}x{meta.hidden}, {meta.precision}, {payload['bytes']} bytes")
        front = meta.frontend.get("kind")
        if front == "logmel":
            cfg = model.frontend.config
            front = (f"log-mel, {cfg.sample_rate} Hz audio, {cfg.window_ms:g} ms windows every {cfg.hop_ms:g} ms "
                     f"({cfg.window} / {cfg.hop} samples), {cfg.mel_bands} bands; push raw samples")
            if model.frontend.in_graph:
                size = f"one hop of {cfg.hop} samples per step"
                front += (f"; computed in the graph (its first {model.frontend.primer_samples} samples go into "
                          f"state '{model.frontend.PRIMED_STATE}')")
        if front == "framed_features":
            raw = model.frontend.raw_features
            front = (f"{model.frontend.frame} raw steps of {raw} feature{'s' if raw != 1 else ''} stacked per step, "
                     "standardised; push raw steps")
        click.echo(f"input: {meta.input_kind} ({size}); front end: {front}")
        click.echo(f"labels ({len(meta.labels)}): {', '.join(meta.labels)}")
        if meta.dataset:
            split = meta.dataset.get("test_split")
            held = (f"{split['fraction']:g} of each class held out with seed {split['seed']}" if isinstance(split, dict)
                    else "the data's own")
            click.echo(f"trained on {meta.dataset.get('name')}: {meta.dataset.get('train')} train / "
                       f"{meta.dataset.get('test')} test cases (test split: {held})")
            if meta.dataset.get("baselines"):
                click.echo(baselines_line(meta.dataset["baselines"], "on that test split"))
        for name, (dtype, shape) in {**payload["inputs"], **payload["outputs"]}.items():
            click.echo(f"  {name}: {dtype} {shape}")
        if meta.parity:
            click.echo(f"parity: passed={meta.parity.get('passed')}; {parity_line(meta.precision, meta.parity)}")
        foot = meta.footprint
        if foot:
            weights = foot["weights"]
            click.echo(f"weights: {weights['int8']} int8, {weights['float32']} float32, {weights['float16']} float16 "
                       f"({weights['int8_fraction']:.2%} int8); recurrent weights {foot['recurrent_weights']}; "
                       f"compute {foot['compute']}")
            click.echo(f"per step: {foot['macs_per_step']} multiply-accumulates; state {foot['state_bytes_per_stream']} "
                       f"bytes per stream")
            click.echo("ops: " + ", ".join(f"{op} x{n}" for op, n in foot["op_counts"].items()))
            if "note" in foot:
                click.echo(f"note: {foot['note']}")
        if operators is not None:
            groups = {(d, v): [op for dd, vv, op in operators if (dd, vv) == (d, v)] for d, v, _ in operators}
            click.echo("operators: " + "; ".join(f"{d} opset {v}: {', '.join(ops)}" for (d, v), ops in groups.items()))
            missing = payload["missing_from_reduced_mobile_package"]
            click.echo(f"onnxruntime's reduced mobile package ({REDUCED_MOBILE_RELEASES}) lacks: {', '.join(missing)}; "
                       "from 1.19 the prebuilt mobile packages hold every operator, or build onnxruntime with "
                       "the required_operators.config `edgernn export --format ort` writes" if missing
                       else f"onnxruntime's reduced mobile package ({REDUCED_MOBILE_RELEASES}) has every operator")
        else:
            click.echo("operators: an ORT-format file; see the required_operators.config written beside it")
        if meta.runtime.get("session_config"):
            click.echo(f"session config: {meta.runtime['session_config']}")
        click.echo(f"producer: {meta.producer}")
    return payload, human
