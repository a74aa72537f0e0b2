"""`edgernn bench PATH`: per-step latency and many-stream throughput of exported graphs, against
the bare session and PyTorch eager measured in the same run."""

from __future__ import annotations

import json
from pathlib import Path

import click

from edgernn.cli.options import device_option, json_option, show_progress


def _stream_counts(ctx, param, value: str) -> tuple[int, ...]:
    try:
        counts = tuple(int(v) for v in value.split(","))
    except ValueError:
        counts = ()
    if not counts or min(counts) < 1:
        raise click.BadParameter(f"expected positive integers separated by commas, got {value!r}", ctx=ctx, param=param)
    return counts


@click.command("bench", short_help='Measure per-step latency and throughput of graphs.')
@click.argument("path", type=click.Path(exists=True))
@click.option("--threads", "thread_counts", type=click.IntRange(min=1), multiple=True,
              help="Intra-op threads to measure latency with (repeatable; default: 1 and the library's default).")
@click.option("--streams", "stream_counts", default="1,16,64,256,1024", show_default=True, callback=_stream_counts,
              help="Concurrent stream counts for the throughput measurement.")
@click.option("--steps", type=click.IntRange(min=10), default=2000, show_default=True, help="Timed steps per latency figure.")
@click.option("--precision", "precisions", multiple=True, help="Only these precisions of a run folder (repeatable).")
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Also write the JSON report to this file.")
@device_option
@json_option
def bench_command(path, thread_counts, stream_counts, steps, precisions, out, device, as_json):
    """Benchmark PATH: a run folder (every model.<precision>.onnx in it; PyTorch eager from its
    model.pt when torch is installed) or one .onnx file.

    \b
    Example:
      edgernn bench runs/jv --threads 1 --streams 1,64,256
      edgernn bench runs/jv/model.int8-dynamic.onnx --json --out bench.json
    """
    from edgernn.runtime import InputError
    from edgernn.runtime.files import write_json_atomic
    from edgernn.runtime.bench import bench
    from edgernn.runtime.log import log_to_stderr

    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    models = sorted(folder.glob("model.*.onnx")) if Path(path).is_dir() else [Path(path)]
    if precisions:
        models = [m for m in models if m.name.split(".")[1] in precisions]
    if not models:
        raise InputError(f"{path}: no model.<precision>.onnx files to benchmark")
    report = bench(models, threads=tuple(thread_counts) or (1, None), stream_counts=stream_counts, steps=steps,
                   eager=_eager_baseline(folder / "model.pt"), log=log_to_stderr, device=device,
                   progress=show_progress(as_json))
    if out:
        write_json_atomic(out, report)
    if as_json:
        click.echo(json.dumps(report, indent=2))
    else:
        click.echo(_summary(report))


def _eager_baseline(checkpoint: Path):
    """PyTorch eager step latency when torch and the checkpoint are there, else None."""
    if not checkpoint.is_file():
        return None
    try:
        from edgernn.trainer.eager import eager_step
    except ImportError:
        return None
    return lambda threads: eager_step(checkpoint, threads)


def _summary(report: dict) -> str:
    lines = []
    for precision, entry in report["models"].items():
        for threads, row in entry["latency"].items():
            eager = (f", torch eager {row['torch_eager']['step_us_p50']} us "
                     f"({row['torch_eager_vs_bare'] / row['push_vs_bare']:.2f}x push)" if "torch_eager" in row else "")
            lines.append(f"{precision} threads {threads}: push p50 {row['push']['step_us_p50']} us p99 "
                         f"{row['push']['step_us_p99']} us; bare session.run {row['bare']['step_us_p50']} us "
                         f"(push/bare {row['push_vs_bare']}){eager}")
        for row in entry["throughput"]:
            separate = f", {row['batched_vs_separate']}x separate pushes" if "batched_vs_separate" in row else ""
            lines.append(f"{precision} threads {row['threads'] or 'default'} {row['streams']:>5} streams: "
                         f"{row['batched_steps_per_s']:.0f} steps/s batched "
                         f"(bare/batched {row['batched_vs_bare']}{separate})")
        if "runtime_process" in entry:
            proc = entry["runtime_process"]
            lines.append(f"{precision} runtime process: import {proc['import_s']} s, peak RSS {proc['peak_rss_mb']} MB")
    return "\n".join(lines)
