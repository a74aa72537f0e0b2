"""`edgernn tune DATA --budget 20m`: a budgeted search judged on validation, then a normal run
folder for the winner (tune/search.py)."""

from __future__ import annotations

import click

from edgernn.cli.options import data_options, emit, json_option, show_progress, test_option


class Duration(click.ParamType):
    """'20m', '90s', '1.5h' or plain seconds."""

    name = "duration"

    def convert(self, value, param, ctx):
        if isinstance(value, (int, float)):
            return float(value)
        from edgernn.runtime.errors import InputError
        from edgernn.tune.search import parse_duration

        try:
            return parse_duration(str(value))
        except InputError as exc:
            self.fail(str(exc), param, ctx)


@click.command("tune", short_help='Search model settings within a budget, then train the best.')
@click.argument("data", type=click.Path(exists=True))
@test_option
@data_options
@click.option("--budget", type=Duration(), default="20m", show_default=True,
              help="Wall time for the search (20m, 90s, 1.5h); the winner's final run comes after it.")
@click.option("--trials", type=click.IntRange(min=1), default=None, help="At most this many trials (default: until the budget is spent).")
@click.option("--precision", type=click.Choice(["fp32", "int8-dynamic", "fp16"]), default="int8-dynamic", show_default=True,
              help="The graph the device runs: measured and constrained on every trial.")
@click.option("--max-step-us", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Per-step latency limit, microseconds (p50 at one thread on this machine).")
@click.option("--max-bytes", type=click.IntRange(min=1), default=None, help="File size limit of the graph at --precision.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True,
              help="Trials at once, each in its own process at one thread.")
@click.option("--storage", default=None, metavar="URL",
              help="A database URL (e.g. postgresql://host/db) several machines share one study through "
                   "(default: a journal file in the run folder).")
@click.option("--study-name", default=None, help="The study's name in --storage (machines joining one study give the same).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=None,
              help="Judge every trial on this held-out share of the training split (default: 4-fold "
                   "cross-validation below 1,000 training cases, else a held-out 0.1).")
@click.option("--seed", type=int, default=0, show_default=True,
              help="Seeds the sampler and every trial's training (split, weights, batches).")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run folder (default: runs/tune-<time>).")
@json_option
def tune_command(data, test, label_regex, test_regex, strip, budget, trials, precision, max_step_us, max_bytes, jobs,
                 storage, study_name, val_fraction, seed, out, as_json):
    """Search cell, width, depth, learning rate, dropout, noise, framing and read-out for DATA
    within --budget (Optuna: TPE, pruning), judged on a validation split; every trial's graph is
    exported through the gates and measured. Then train the winner into a normal run folder and
    write report.json with the trial table and the accuracy/bytes/latency Pareto front.

    \b
    Example:
      edgernn tune ../shared/data/uea/JapaneseVowels_TRAIN.ts --budget 20m --out runs/jv-tuned
      edgernn tune DATA --trials 40 --max-step-us 50 --jobs 2
    """
    from edgernn.cli.options import default_run_dir
    from edgernn.cli.report_cmd import report_html_after
    from edgernn.tune.search import DataSpec, TuneConfig, tune

    out = out or default_run_dir("tune")
    spec = DataSpec(str(data), str(test) if test else None, label_regex, test_regex, tuple(strip))
    config = TuneConfig(budget_s=budget, trials=trials, precision=precision, max_step_us=max_step_us, max_bytes=max_bytes,
                        jobs=jobs, storage=storage, study_name=study_name, seed=seed, val_fraction=val_fraction)
    with report_html_after(out):
        report = tune(spec, out, config, progress=show_progress(as_json))

    def human():
        t, winner = report["tune"], next(r for r in report["tune"]["trials"] if r["number"] == report["tune"]["winner"])
        states = {s: sum(r["state"] == s for r in t["trials"]) for s in ("complete", "pruned", "fail")}
        click.echo(f"{len(t['trials'])} trials in {t['search_s']:.0f} s ({states['complete']} complete, "
                   f"{states['pruned']} pruned, {states['fail']} failed); Pareto front: trials {t['pareto_front']}")
        click.echo(f"winner: trial {winner['number']} {winner['params']}: validation accuracy "
                   f"{winner['validation_accuracy']:.4f}, {winner['bytes']} bytes at {t['precision']}, step p50 {winner['step_us']} us")
        click.echo(f"test accuracy {report['metrics']['test_accuracy']:.4f} (read once, for the winner)")
        for warning in report["warnings"]:
            click.echo(f"warning: {warning}")
        click.echo(f"report: {out}/report.json")
    emit(report, as_json, human)
