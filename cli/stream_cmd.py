"""`edgernn stream MODEL DATA`: push one sequence through a stream, chunk by chunk (no torch)."""

from __future__ import annotations

import json

import click

from edgernn.cli.options import device_option, json_option, threads_option


@click.command("stream")
@click.argument("model_path", metavar="MODEL", type=click.Path(exists=True, dir_okay=False))
@click.argument("data", type=click.Path(exists=True, dir_okay=False))
@click.option("--index", type=click.IntRange(min=0), default=0, show_default=True, help="Which sequence of DATA to stream.")
@click.option("--chunk", type=click.IntRange(min=1), default=1, show_default=True, help="Steps per push.")
@device_option
@threads_option
@json_option
def stream_command(model_path, data, index, chunk, device, threads, as_json):
    """Stream sequence INDEX of DATA (.ts or .npz) through MODEL, CHUNK steps per push, and print
    the top class after every push (JSON lines with --json)."""
    from edgernn.runtime import InputError, Model, read_sequences

    model = Model(model_path, device=device, threads=threads)
    sequences = read_sequences(data)
    if index >= len(sequences):
        raise InputError(f"--index {index} is out of range: {data} holds {len(sequences)} sequences")
    sequence = sequences.sequences[index]
    stream = model.stream()
    for start in range(0, len(sequence), chunk):
        probs = stream.push(sequence[start:start + chunk])[-1]
        best = int(probs.argmax())
        row = {"step": stream.steps, "predicted": model.labels[best], "score": round(float(probs[best]), 4)}
        click.echo(json.dumps(row) if as_json else f"step {row['step']:>5}  {row['predicted']}  {row['score']:.4f}")
    if sequences.labels and not as_json:
        click.echo(f"label {sequences.labels[index]}")
