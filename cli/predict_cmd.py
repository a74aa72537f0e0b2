"""`edgernn predict MODEL DATA`: classify whole sequences with an exported graph (no torch)."""

from __future__ import annotations

import click

from edgernn.cli.options import parse_strip_parts, allow_nonfinite_option, device_option, emit, json_option, threads_option


@click.command("predict", short_help='Predict the class of every sequence, recording or document.')
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.argument("data", type=click.Path(exists=True), required=False)
@click.option("--text", "texts", multiple=True, metavar="TEXT", help="Text model: a document to classify (repeatable).")
@click.option("--strip", default="", callback=parse_strip_parts, metavar="PARTS",
              help="Text data: remove these parts of Usenet posts, any of headers,footers,quotes.")
@device_option
@threads_option
@allow_nonfinite_option
@click.option("--limit", type=click.IntRange(min=1), default=None, help="Print at most this many rows.")
@json_option
def predict_command(model_path, data, texts, strip, device, threads, allow_nonfinite, limit, as_json):
    """Predict the class of every sequence in DATA with MODEL (.onnx); prints accuracy too when
    DATA is labelled. DATA: a .ts or .npz file; for a text model also a .txt file (one
    document), a .csv file (text,label) or a folder of class folders; or --text instead.

    \b
    Example:
      edgernn predict runs/jv/model.int8-dynamic.onnx ../shared/data/uea/JapaneseVowels_TEST.ts --limit 5
      edgernn predict runs/news/model.fp32.onnx --text 'the launch window opens at dawn'
    """
    from edgernn.runtime import Model
    from edgernn.runtime.splits import check_fits_model

    if bool(texts) == (data is not None):
        raise click.UsageError("give DATA or --text, one of the two")
    model = Model(model_path, device=device, threads=threads, allow_nonfinite=allow_nonfinite)
    sequences = _read_data(data, texts, strip, allow_nonfinite)
    check_fits_model(sequences, model)
    probs = model.predict(sequences.sequences)
    best = probs.argmax(axis=1)
    rows = [{"index": i, "predicted": model.labels[k], "score": round(float(probs[i, k]), 4),
             **({"label": sequences.labels[i]} if sequences.labels else {})} for i, k in enumerate(best)]
    payload = {"model": model_path, "data": data, "cases": len(rows), "predictions": rows}
    if sequences.labels:
        truth = sequences.label_ids(model.labels)
        payload["accuracy"] = float((best == truth).mean())

    def human():
        width = max([len("predicted"), *(len(row["predicted"]) for row in rows[:limit])])
        click.echo(f"{'case':>6}  {'predicted':<{width}}  {'score':>6}" + ("  label" if sequences.labels else ""))
        for row in rows[:limit]:
            label = f"  {row['label']}" if "label" in row else ""
            click.echo(f"{row['index']:>6}  {row['predicted']:<{width}}  {row['score']:.4f}{label}")
        if "accuracy" in payload:
            click.echo(f"accuracy {payload['accuracy']:.4f} on {len(rows)} cases")
    emit(payload, as_json, human)


def _read_data(data: str | None, texts: tuple[str, ...], strip: tuple[str, ...], allow_nonfinite: bool):
    """The sequences to classify, as a SequenceSet (labelled when the data says)."""
    from pathlib import Path

    from edgernn.runtime.datasets import SequenceSet, read_sequences
    from edgernn.runtime.splits import is_text, read_text
    from edgernn.runtime.corpus import clean_text, read_document

    if texts:
        return SequenceSet([clean_text(t, strip) for t in texts], None, [], "text", "--text")
    path = Path(data)
    if path.suffix.lower() == ".txt" and path.is_file():
        return SequenceSet([clean_text(read_document(path), strip)], None, [], path.name, str(path))
    if is_text(path):
        return read_text(path, strip)
    return read_sequences(path, allow_nonfinite)
