"""`train --nproc 2`: two CPU processes under torchrun (gloo) train one model; rank 0 alone writes;
a killed distributed run resumes to the uninterrupted run's exact weights; a worker's bad input
is exit code 2. Also, without processes: the ranks' loss shares add up to the one-process gradient."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

from edgernn.trainer.data import Encoded
from edgernn.trainer.distributed import Launch, Ranks
from edgernn.trainer.network import ModelConfig, RecurrentClassifier
from edgernn.trainer.train import TRAIN_STATE, batch_loss

SETTINGS = ["--hidden", "16", "--epochs", "4", "--batch-size", "32", "--val-fraction", "0.2", "--seed", "0", "--threads", "1"]

# Loaded by every process through PYTHONPATH: with the variable set, a training state is written
# after every epoch, and rank 0 dies by SIGKILL (no cleanup) when about to write the n-th one.
KILL_RANK0_AT_STATE = """
import os
if os.environ.get("KILL_RANK0_AT_STATE"):
    import edgernn.trainer.checkpoint as c
    import edgernn.trainer.train as t
    t.STATE_EVERY_S = 0.0
    real_write, seen = c.write_bytes_atomic, {"n": 0}
    def write_or_die(path, data):
        if t.TRAIN_STATE in str(path) and os.environ.get("RANK") == "0":
            seen["n"] += 1
            if seen["n"] == int(os.environ["KILL_RANK0_AT_STATE"]):
                os.kill(os.getpid(), 9)
        return real_write(path, data)
    c.write_bytes_atomic = write_or_die
"""


def edgernn(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edgernn.cli", *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def weights(run_dir: Path) -> dict:
    return torch.load(run_dir / "model.pt", weights_only=True)["state_dict"]


@pytest.fixture(scope="module")
def two_process_run(tmp_path_factory, sample_dir):
    out = tmp_path_factory.mktemp("ddp") / "run"
    result = edgernn("train", str(sample_dir), *SETTINGS, "--nproc", "2", "--out", str(out), "--json")
    return out, result


def test_two_processes_train_one_model_and_rank0_alone_writes(two_process_run):
    out, result = two_process_run
    assert result.returncode == 0, result.stderr[-3000:]
    payload = json.loads(result.stdout)  # one JSON document: rank 1 printed nothing
    shared = payload["dataset"]["distributed"]
    assert shared["processes"] == 2 and shared["backend"] == "gloo" and shared["weights_identical"] is True
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "metrics.json", "model.pt"]
    assert [r["epoch"] for r in json.loads((out / "history.json").read_text())] == [1, 2, 3, 4]
    assert "torchrun --standalone --nproc-per-node 2 -m edgernn.cli train" in result.stderr


def test_killed_distributed_run_resumes_to_the_uninterrupted_weights(tmp_path, sample_dir, two_process_run):
    reference, finished = two_process_run
    assert finished.returncode == 0, finished.stderr[-3000:]
    (tmp_path / "sitecustomize.py").write_text(textwrap.dedent(KILL_RANK0_AT_STATE))
    killed = tmp_path / "killed"
    hooked = {"PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    # Rank 0 dies about to write the state after epoch 3: the state on disk is epoch 2's.
    died = edgernn("train", str(sample_dir), *SETTINGS, "--nproc", "2", "--out", str(killed),
                   env={**hooked, "KILL_RANK0_AT_STATE": "3"})
    assert died.returncode == 1, died.stderr[-3000:]
    assert sorted(p.name for p in killed.iterdir()) == [TRAIN_STATE]
    state = torch.load(killed / TRAIN_STATE, weights_only=True)
    assert state["epoch"] == 2 and len(state["torch_rng_ranks"]) == 2

    alone = edgernn("train", "--resume", str(killed))
    assert alone.returncode == 2 and "the run was trained by 2 process(es); resume it with --nproc 2, not 1" in alone.stderr

    resumed = edgernn("train", "--resume", str(killed), "--nproc", "2", "--json", env=hooked)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    got, want = weights(killed), weights(reference)
    assert got.keys() == want.keys() and all(torch.equal(got[k], want[k]) for k in want)
    history = [r["loss"] for r in json.loads((killed / "history.json").read_text())]
    assert history == [r["loss"] for r in json.loads((reference / "history.json").read_text())]


def test_bad_input_in_the_workers_is_exit_code_2(tmp_path):
    empty = tmp_path / "Empty_TRAIN.ts"
    empty.write_text("")
    result = edgernn("train", str(empty), "--nproc", "2", "--out", str(tmp_path / "run"))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "Error:" in result.stderr and not (tmp_path / "run" / "model.pt").exists()


def test_several_machines_need_a_rendezvous_endpoint():
    from click.testing import CliRunner

    from edgernn.cli.main import cli

    result = CliRunner().invoke(cli, ["train", "x", "--nnodes", "2"])
    assert result.exit_code == 2
    result = CliRunner().invoke(cli, ["train", ".", "--nnodes", "2", "--nproc", "2"])
    assert result.exit_code == 2 and "--nnodes above 1 needs --rdzv-endpoint HOST:PORT" in result.output
    command = Launch(nproc=4, nnodes=2, rdzv_endpoint="10.0.0.1:29400").torchrun_command(["train", "DATA"])
    assert command == ["torchrun", "--nnodes", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint", "10.0.0.1:29400",
                       "--rdzv-id", "edgernn", "--nproc-per-node", "4", "-m", "edgernn.cli", "train", "DATA"]


@pytest.mark.parametrize("weighted", [False, True])
def test_rank_shares_add_up_to_the_one_process_gradient(weighted):
    torch.manual_seed(0)
    model = RecurrentClassifier(ModelConfig(features=3, hidden=8, classes=3, dropout=0.0))
    lengths = torch.tensor([5, 3, 4, 5, 2, 5, 1])
    batch = Encoded(torch.randn(7, 5, 3), lengths, torch.tensor([0, 1, 2, 2, 1, 0, 2]))
    weight = torch.tensor([0.5, 1.0, 2.0]) if weighted else None

    def gradient(loss: torch.Tensor) -> list[torch.Tensor]:
        model.zero_grad()
        loss.backward()
        return [p.grad.clone() for p in model.parameters()]

    whole = gradient(batch_loss(model, batch, batch.x, weight, Ranks())[0])
    shares = [gradient(batch_loss(model, batch, batch.x, weight, Ranks(rank, 2))[0]) for rank in (0, 1)]
    for one, first, second in zip(whole, *shares):
        torch.testing.assert_close((first + second) / 2, one, rtol=1e-5, atol=1e-6)
