"""`edgernn train DATA`: fit a classifier and write its run folder."""

from __future__ import annotations

from pathlib import Path

import click

from edgernn.cli.distributed import inside_worker, relaunch_if_asked
from edgernn.cli.main import RESUME_HINT
from edgernn.cli.options import default_run_dir, emit, json_option, model_config, show_progress, train_config
from edgernn.cli.run_folder import claim_run_folder
from edgernn.cli.run_options import training_run_options


@click.command("train", short_help='Train a classifier on DATA and write its run folder.')
@training_run_options
@click.option("--resume", "resume_dir", type=click.Path(exists=True, file_okay=False), default=None,
              help="Continue the interrupted run in this folder from its last saved epoch (no DATA: "
                   "data and settings come from the run).")
@json_option
@click.pass_context
def train_command(ctx, data, test, label_regex, test_regex, strip, threads, out, resume_dir, force, as_json, **options):
    """Train on DATA (a *_TRAIN.ts or .npz file, a folder holding one, or a folder of WAV files) and write model.pt,
    history.json and metrics.json to the run folder.

    \b
    Example:
      edgernn train ../shared/data/uea/JapaneseVowels_TRAIN.ts --out runs/jv
      edgernn train recordings/ --test-regex '^test_' --background _background_ --out runs/kws
      edgernn train --resume runs/jv
    """
    if resume_dir is None and data is not None:
        out = out or default_run_dir(options["cell"])
    if resume_dir is None and out is not None and not inside_worker() and options["nnodes"] == 1:
        claim_run_folder(out, force, "train")  # several machines start at different moments: none may clear it
    relaunch_if_asked(ctx, options, out)
    if resume_dir or out:
        ctx.meta[RESUME_HINT] = (Path(resume_dir or out), "train")
    from edgernn.runtime.metadata import baselines_line
    from edgernn.trainer.train import resume_training, train

    if resume_dir is not None:
        if data is not None:
            raise click.UsageError("--resume takes its data and settings from the run: give no DATA")
        outcome = resume_training(resume_dir, threads=threads, progress=show_progress(as_json))
    elif data is None:
        raise click.UsageError("missing argument DATA (or --resume RUN_DIR)")
    else:
        outcome = train(data, out, model_config(options), train_config(options, threads), test=test,
                        label_regex=label_regex, test_regex=test_regex, strip=strip, progress=show_progress(as_json))
    if outcome is None:  # a distributed run's rank other than 0: rank 0 reports
        return
    payload = {"run_dir": str(outcome.run_dir), "checkpoint": str(outcome.checkpoint),
               "test_accuracy": outcome.metrics["accuracy"], "macro_f1": outcome.metrics["macro_f1"],
               "best_epoch": outcome.metrics["best_epoch"], "kept": outcome.metrics["kept"],
               "settings": outcome.metrics["settings"], "divergence_guard": outcome.metrics["divergence_guard"],
               "dataset": outcome.dataset}
    payload["warnings"] = outcome.metrics["warnings"]

    def human():
        click.echo(f"test accuracy {outcome.metrics['accuracy']:.4f} on {outcome.dataset['test']} cases; wrote {outcome.checkpoint}")
        click.echo(baselines_line(outcome.dataset["baselines"]))
        for warning in outcome.metrics["warnings"]:
            click.echo(f"warning: {warning}")
    emit(payload, as_json, human)
