"""`--nproc N` for `train` and `pipeline`: the same command run again in N workers by torchrun's
launcher (trainer/distributed.py says how they share the work)."""

from __future__ import annotations

import os

import click

from edgernn.cli.main import ARGV_KEY
from edgernn.cli.options import _stack

distributed_options = _stack(
    click.option("--nproc", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Train with this many processes on this machine (PyTorch DDP over gloo, started by torchrun); "
                      "rank 0 writes the run folder. Each process uses --threads threads."),
    click.option("--nnodes", type=click.IntRange(min=1), default=1, show_default=True,
                 help="Machines taking part; run the same command on each, with the same --rdzv-endpoint."),
    click.option("--rdzv-endpoint", default="", metavar="HOST:PORT",
                 help="With --nnodes above 1: the rendezvous address, a port on one of the machines."),
    click.option("--rdzv-id", default="edgernn", show_default=True,
                 help="With --nnodes above 1: the job's name at the rendezvous (one per concurrent job)."),
)

LAUNCH_PARAMS = ("nproc", "nnodes", "rdzv_endpoint", "rdzv_id")


def inside_worker() -> bool:
    """True in a process torchrun started (it sets WORLD_SIZE), which must not launch again."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def relaunch_if_asked(ctx: click.Context, options: dict, out: str | None) -> None:
    """With --nproc/--nnodes above 1 and outside a worker: run this command line again in the
    workers, with the run folder ``out`` fixed for all of them, then exit with their exit code.
    Pops the launch options from ``options`` in every case."""
    from edgernn.trainer.distributed import Launch, describe

    launch = Launch(*(options.pop(name) for name in LAUNCH_PARAMS))
    if not launch.distributed or inside_worker():
        return
    args = ctx.meta[ARGV_KEY] + (["--out", out] if out else [])  # a later --out wins in click
    click.echo(f"starting {launch.nproc * launch.nnodes} training processes: {describe(launch.torchrun_command(args))}",
               err=True)
    ctx.exit(launch.run(args))
