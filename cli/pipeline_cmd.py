"""`edgernn pipeline [DATA]`: the whole flow on DATA, or on the bundled sample."""

from __future__ import annotations

from pathlib import Path

import click

from edgernn.cli.distributed import inside_worker, relaunch_if_asked
from edgernn.cli.main import RESUME_HINT
from edgernn.cli.options import (
    default_run_dir, emit, false_alarms_option, json_option, model_config, parity_line, precision_option, show_progress,
    train_config,
)
from edgernn.cli.report_cmd import report_html_after
from edgernn.cli.run_folder import claim_run_folder
from edgernn.cli.run_options import training_run_options


@click.command("pipeline", short_help='Train, export, check, measure and report in one go.')
@training_run_options
@precision_option
@false_alarms_option
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Continue the interrupted pipeline in this folder: training from its last saved epoch, then "
                   "everything after it (no DATA: data and training settings come from the run).")
@json_option
@click.pass_context
def pipeline_command(ctx, data, test, label_regex, test_regex, strip, precisions, threads, false_alarms_per_hour, out,
                     resume_dir, force, as_json, **options):
    """Train on DATA (default: the bundled JapaneseVowels sample), export every precision through
    its parity gates, measure per-step latency, stream one test sequence, and write report.json.

    \b
    Example:
      edgernn pipeline --out runs/sample
      edgernn pipeline ../shared/data/uea/JapaneseVowels_TRAIN.ts --precision int8-dynamic --out runs/jv
      edgernn pipeline --resume runs/jv
    """
    if resume_dir is not None and data is not None:
        raise click.UsageError("--resume takes its data and settings from the run: give no DATA")
    out = resume_dir or out or default_run_dir(options["cell"])
    if resume_dir is None and out is not None and not inside_worker() and options["nnodes"] == 1:
        claim_run_folder(out, force, "pipeline")  # several machines start at different moments: none may clear it
    relaunch_if_asked(ctx, options, None if resume_dir else out)
    ctx.meta[RESUME_HINT] = (Path(out), "pipeline")
    from edgernn.export.pipeline import pipeline, resume_pipeline
    from edgernn.runtime.metadata import baselines_line

    chosen = tuple(dict.fromkeys(precisions)) or None
    with report_html_after(out):
        if resume_dir is not None:
            report = resume_pipeline(resume_dir, precisions=chosen, threads=threads or 1, training_threads=threads,
                                     false_alarms_per_hour=false_alarms_per_hour, progress=show_progress(as_json))
        else:
            config = train_config(options, threads)
            report = pipeline(data, out, model_config(options), config, precisions=chosen, test=test, threads=config.threads,
                              label_regex=label_regex, test_regex=test_regex, strip=strip,
                              false_alarms_per_hour=false_alarms_per_hour, progress=show_progress(as_json))
    if report is None:  # a distributed run's rank other than 0: rank 0 exports and reports
        return

    def human():
        d, m = report["dataset"], report["model"]
        click.echo(f"{d['name']}: {d['train']} train / {d['test']} test, {d['classes']} classes; "
                   f"{m['cell']} {m['layers']}x{m['hidden']}, {m['parameters']} parameters")
        click.echo(f"test accuracy {report['metrics']['test_accuracy']:.4f}")
        click.echo(baselines_line(report["baselines"]))
        for p, art in report["artifacts"].items():
            par, lat = report["parity"][p], report["latency"][p]
            foot = report["footprint"][p]
            click.echo(f"{p}: {art['path']} {art['bytes']} bytes ({foot['bytes_vs_fp32']:.3f}x fp32, "
                       f"{foot['weights']['int8_fraction']:.2%} of weights int8); graph accuracy {par['test_accuracy']:.4f}; "
                       f"step p50 {lat['step_us_p50']} us p99 {lat['step_us_p99']} us")
            click.echo(f"    parity: {parity_line(p, par)}")
        for p, result in report.get("stream", {}).items():
            measured = result["validation"]
            click.echo(f"{p} detector: {result['operating_point']}; validation streams: recall {measured['recall']}, "
                       f"{measured['false_alarms_per_hour']} false alarms per hour"
                       + ("" if result["met"] else f" (the budget of {result['target_false_alarms_per_hour']:g} was not met)"))
        demo = report["stream_demo"]
        click.echo(f"streamed one test sequence ({demo['steps']} steps): predicted {demo['predicted']} "
                   f"({demo['score']:.3f}), label {demo['label']}")
        for warning in report["warnings"]:
            click.echo(f"warning: {warning}")
        click.echo(f"report: {out}/report.json" + (f" and {out}/report.html" if (Path(out) / "report.html").is_file() else ""))
    emit(report, as_json, human)
