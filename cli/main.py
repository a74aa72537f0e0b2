"""The `edgernn` command. Subcommands load lazily: `edgernn stream --help` imports click and the
runtime only, never torch. Errors edgernn raises on purpose become a one-line message and an
exit code (2: bad usage or input, 1: a check failed); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import importlib

import click

from edgernn.runtime.errors import CheckFailed, EdgeRNNError

ARGV_KEY = "edgernn.argv"
RESUME_HINT = "edgernn.resume"  # (run folder, verb) of a command that saves a training state as it goes
INTERRUPTED = 130  # 128 + SIGINT, the shell's convention for Ctrl-C
COMMANDS = {
    "train": "edgernn.cli.train_cmd:train_command",
    "export": "edgernn.cli.export_cmd:export_command",
    "check": "edgernn.cli.check_cmd:check_command",
    "predict": "edgernn.cli.predict_cmd:predict_command",
    "stream": "edgernn.cli.stream_cmd:stream_command",
    "bench": "edgernn.cli.bench_cmd:bench_command",
    "info": "edgernn.cli.info_cmd:info_command",
    "pipeline": "edgernn.cli.pipeline_cmd:pipeline_command",
    "tune": "edgernn.cli.tune_cmd:tune_command",
    "calibrate": "edgernn.cli.calibrate_cmd:calibrate_command",
    "serve": "edgernn.cli.serve_cmd:serve_command",
    "report": "edgernn.cli.report_cmd:report_command",
    "demo": "edgernn.cli.demo_cmd:demo_command",
}


class LazyGroup(click.Group):
    """A group whose subcommands are imported only when named."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in COMMANDS:
            return None
        module_name, attribute = COMMANDS[name].split(":")
        return getattr(importlib.import_module(module_name), attribute)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta[ARGV_KEY] = list(args)  # the command line after `edgernn`, for --nproc's workers
        return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except CheckFailed as exc:
            for failure in exc.failures:
                click.echo(f"check failed: {failure}", err=True)
            ctx.exit(1)
        except EdgeRNNError as exc:
            click.echo(f"Error: {exc}", err=True)
            ctx.exit(2)
        except KeyboardInterrupt:
            click.echo(f"\ninterrupted{resume_hint(ctx)}", err=True)
            ctx.exit(INTERRUPTED)
        except ModuleNotFoundError as exc:
            if exc.name not in ("torch", "onnx", "optuna", "sklearn"):
                raise
            click.echo(f"Error: this command needs {exc.name}, which is not installed: "
                       "pip install 'edgernn[train]' (with -c constraints.txt for the CPU build of torch)", err=True)
            ctx.exit(2)


def resume_hint(ctx: click.Context) -> str:
    """Where an interrupted run can go on from, when it saved a training state."""
    run_dir, verb = ctx.meta.get(RESUME_HINT, (None, None))
    if run_dir is None or not (run_dir / "train_state.pt").is_file():
        return ""
    return f": {run_dir}/train_state.pt holds the last saved epoch; go on with `edgernn {verb} --resume {run_dir}`"


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="edgernn")
def cli() -> None:
    """Train, export, verify and stream recurrent classifiers (RNN, LSTM, GRU) for edge devices."""
