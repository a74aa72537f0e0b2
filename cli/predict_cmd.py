"""`edgernn predict MODEL DATA`: classify whole sequences with an exported graph (no torch)."""

from __future__ import annotations

import click

from edgernn.cli.options import allow_nonfinite_option, device_option, emit, json_option, threads_option


@click.command("predict")
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@device_option
@threads_option
@allow_nonfinite_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Print at most this many rows.")
@json_option
def predict_command(model_path, data, device, threads, allow_nonfinite, limit, as_json):
    """Predict the class of every sequence in DATA (.ts or .npz) with MODEL (.onnx); prints
    accuracy too when DATA is labelled."""
    from edgernn.runtime import Model, read_sequences

    model = Model(model_path, device=device, threads=threads, allow_nonfinite=allow_nonfinite)
    sequences = read_sequences(data, allow_nonfinite)
    probs = model.predict(sequences.sequences)
    best = probs.argmax(axis=1)
    rows = [{"index": i, "predicted": model.labels[k], "score": round(float(probs[i, k]), 4),
             **({"label": sequences.labels[i]} if sequences.labels else {})} for i, k in enumerate(best)]
    payload = {"model": model_path, "data": data, "cases": len(rows), "predictions": rows}
    if sequences.labels:
        truth = sequences.label_ids(model.labels)
        payload["accuracy"] = float((best == truth).mean())

    def human():
        for row in rows[:limit]:
            label = f"  (label {row['label']})" if "label" in row else ""
            click.echo(f"{row['index']:>6}  {row['predicted']}  {row['score']:.4f}{label}")
        if "accuracy" in payload:
            click.echo(f"accuracy {payload['accuracy']:.4f} on {len(rows)} cases")
    emit(payload, as_json, human)
