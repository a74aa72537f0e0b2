"""Data-parallel training over several processes (PyTorch DDP), started by torchrun.

`edgernn train --nproc N` (and `pipeline`) starts ``torch.distributed.run`` with the same
command line; torchrun sets RANK, WORLD_SIZE and LOCAL_RANK in every worker, and the worker's
`train` joins the process group (gloo: the trainer runs on CPU) and trains its share.

How the work is shared, so that N processes train the same model one process would:
- Every rank reads the data and draws the same batches from the same seeded generator; each
  batch of ``batch_size`` cases is split by rows, rank r taking rows r, r + N, ...; input noise
  and augmentation are drawn for the whole batch before the split, so every case gets the noise
  it gets in one process.
- Each rank's loss is its rows' share of the batch's mean loss times N; DDP averages the
  gradients over ranks, so every update is the one-process update of that batch (up to the order
  of float sums). Dropout masks are drawn per rank (seed + rank).
- Validation is split the same way and its sums are added over ranks, so every rank takes the
  same decisions (kept epoch, early stop, divergence guard) without further messages.
- Rank 0 alone writes the run folder and the training state; a resumed run gives each rank its
  own saved dropout generator.
"""

from __future__ import annotations

import gc
import os
import shlex
import sys
import uuid
from dataclasses import dataclass

import torch
import torch.distributed as torch_dist

from edgernn.runtime.errors import InputError

BACKEND = "gloo"  # the trainer runs on CPU; NCCL would need the model on a GPU


@dataclass(frozen=True)
class Ranks:
    rank: int = 0
    world: int = 1

    @property
    def leader(self) -> bool:
        """True on the process that writes files and prints (rank 0, or the only process)."""
        return self.rank == 0

    @property
    def active(self) -> bool:
        return self.world > 1

    def rows(self, count: int) -> slice:
        """This rank's rows of a batch of ``count`` rows."""
        return slice(self.rank, count, self.world)

    def sum(self, *values: float) -> list[float]:
        """Each value added over all ranks (every rank gets the sums)."""
        if not self.active:
            return list(values)
        total = torch.tensor(values, dtype=torch.float64)
        torch_dist.all_reduce(total)
        return total.tolist()

    def gather(self, value):
        """Every rank's ``value`` (a picklable object made here, never read from a file), in rank order."""
        if not self.active:
            return [value]
        out = [None] * self.world
        torch_dist.all_gather_object(out, value)
        return out


SINGLE = Ranks()


def launched_ranks() -> Ranks:
    """The ranks torchrun declared in this process's environment; SINGLE outside torchrun."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Ranks(int(os.environ.get("RANK", "0")), world) if world > 1 else SINGLE


def join() -> Ranks:
    """Join the process group torchrun prepared (idempotent); SINGLE outside torchrun."""
    ranks = launched_ranks()
    if ranks.active and not torch_dist.is_initialized():
        torch_dist.init_process_group(BACKEND)
    return ranks


def leave(finished: bool) -> None:
    """Leave the process group torchrun prepared (nothing outside torchrun).

    finished: this rank's work ended normally, as every rank's does, so the ranks first wait for
    each other: a rank that tears gloo down while its peer still works (the leader evaluates and
    writes) can abort at exit ("terminate called without an active exception"). After an error
    nobody waits, since a peer may be gone. DDP's reducer lives in reference cycles and must be
    collected before its process group is destroyed."""
    if not (torch_dist.is_available() and torch_dist.is_initialized()):
        return
    if finished:
        torch_dist.barrier()
    gc.collect()
    torch_dist.destroy_process_group()


@dataclass(frozen=True)
class Launch:
    """torchrun's settings: ``nproc`` workers on this machine; for several machines ``nnodes`` and
    a rendezvous ``rdzv_endpoint`` (HOST:PORT of one node, the same on all) under ``rdzv_id``."""
    nproc: int = 1
    nnodes: int = 1
    rdzv_endpoint: str = ""
    rdzv_id: str = "edgernn"

    def __post_init__(self) -> None:
        if self.nproc < 1 or self.nnodes < 1:
            raise InputError(f"--nproc and --nnodes must be >= 1, got {self.nproc} and {self.nnodes}")
        if self.nnodes > 1 and not self.rdzv_endpoint:
            raise InputError("--nnodes above 1 needs --rdzv-endpoint HOST:PORT (the same on every node)")

    @property
    def distributed(self) -> bool:
        return self.nproc * self.nnodes > 1

    def torchrun_command(self, cli_args: list[str]) -> list[str]:
        """The torchrun command line equivalent to ``run(cli_args)`` (for logs and docs/training.md)."""
        if self.nnodes > 1:
            where = ["--nnodes", str(self.nnodes), "--rdzv-backend", "c10d", "--rdzv-endpoint", self.rdzv_endpoint,
                     "--rdzv-id", self.rdzv_id]
        else:
            where = ["--standalone"]
        return ["torchrun", *where, "--nproc-per-node", str(self.nproc), "-m", "edgernn.cli", *cli_args]

    def run(self, cli_args: list[str]) -> int:
        """Run `edgernn CLI_ARGS` in ``nproc`` workers on this node (torchrun's launcher, no restarts);
        returns 0, or the exit code of the first worker that failed (2 for bad input, as the CLI)."""
        from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
        from torch.distributed.launcher.api import LaunchConfig, elastic_launch

        single_node = self.nnodes == 1
        config = LaunchConfig(min_nodes=self.nnodes, max_nodes=self.nnodes, nproc_per_node=self.nproc,
                              run_id=f"{self.rdzv_id}-{uuid.uuid4().hex[:8]}" if single_node else self.rdzv_id,
                              rdzv_backend="c10d", rdzv_endpoint="localhost:0" if single_node else self.rdzv_endpoint,
                              max_restarts=0, monitor_interval=0.1, start_method="spawn")
        try:
            elastic_launch(config, sys.executable)("-m", "edgernn.cli", *cli_args)
        except ChildFailedError as exc:
            first = min(exc.failures.values(), key=lambda failure: failure.timestamp)
            return first.exitcode if first.exitcode > 0 else 1
        return 0


def describe(command: list[str]) -> str:
    return shlex.join(command)
