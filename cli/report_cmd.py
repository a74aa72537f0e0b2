"""`edgernn report RUN`: report.html for a run folder (the `report` extra: matplotlib)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click

from edgernn.cli.options import emit, json_option
from edgernn.runtime.errors import InputError


@click.command("report", short_help="Write report.html for a run folder: figures and tables.")
@click.argument("run_dir", metavar="RUN", type=click.Path(exists=True, file_okay=False))
@json_option
def report_command(run_dir, as_json):
    """Write RUN/report.html: one self-contained page (figures inline, nothing fetched) with the
    learning curves, confusion matrix, per-class scores, baselines, precisions and their gates,
    step latency, throughput (from RUN/bench.json), a stream trace, and the detection curve and
    search front where the run has them. `pipeline` and `tune` write it too.

    \b
    Example:
      edgernn report runs/jv
      edgernn bench runs/jv --out runs/jv/bench.json && edgernn report runs/jv
    """
    path = write_report(run_dir)
    emit({"report_html": path}, as_json, lambda: click.echo(f"wrote {path}"))


def write_report(run_dir) -> str:
    """report.html for ``run_dir``; its path."""
    try:
        from edgernn.report.html import write_report_html
    except ModuleNotFoundError as exc:
        if exc.name != "matplotlib":
            raise
        raise InputError("report.html needs matplotlib, which is not installed: pip install 'edgernn[report]'") from None
    return str(write_report_html(run_dir))


@contextlib.contextmanager
def report_html_after(run_dir):
    """Write report.html once the block has written report.json, also when the block then fails
    (a precision failed its gates: the page shows which); without matplotlib, say how to get it."""
    try:
        yield
    finally:
        if (Path(run_dir) / "report.json").is_file():
            try:
                write_report(run_dir)
            except InputError as exc:
                click.echo(f"warning: no report.html: {exc}", err=True)
