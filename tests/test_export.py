"""fp32 export: graph contract, metadata, parity gates on held-out data (export/)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest

from edgernn.export.exporter import export
from edgernn.export.gates import ParityError, ParityLimits
from edgernn.runtime import InputError, Model
from edgernn.runtime.frontend import FeatureFrontend
from edgernn.runtime.metadata import PREFIX, GraphMetadata

OP_OF_CELL = {"rnn": "RNN", "lstm": "LSTM", "gru": "GRU"}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_graph_contract_ops_and_metadata(quick_runs, cell):
    run_dir, outcome, artifacts = quick_runs[cell]
    art = artifacts["fp32"]
    assert art.path == run_dir / "model.fp32.onnx" and art.bytes == art.path.stat().st_size
    proto = onnx.load(art.path)
    onnx.checker.check_model(proto, full_check=True)
    ops = Counter(n.op_type for n in proto.graph.node)
    assert ops[OP_OF_CELL[cell]] == outcome.model.config.layers  # one recurrent op per layer
    states = ["h", "c"] if cell == "lstm" else ["h"]
    assert [i.name for i in proto.graph.input] == ["x", *states]
    assert [o.name for o in proto.graph.output] == ["logits", *(f"{s}_out" for s in states)]
    x_dims = [d.dim_param or d.dim_value for d in proto.graph.input[0].type.tensor_type.shape.dim]
    assert x_dims == ["batch", "time", 12]
    meta = GraphMetadata.from_props({p.key: p.value for p in proto.metadata_props})
    assert (meta.cell, meta.precision, meta.features, meta.labels) == (cell, "fp32", 12, outcome.labels)
    assert meta.parity["passed"] and meta.parity["sequences"] == 370
    assert set(meta.producer) == {"edgernn", "torch", "onnx", "onnxruntime"} and len(meta.source) == 64


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_parity_on_held_out_data_meets_the_gates(quick_runs, cell):
    parity = quick_runs[cell][2]["fp32"].parity
    assert parity["max_abs_diff_batch1"] <= 1e-4 and parity["max_abs_diff_batch3"] <= 1e-4
    assert parity["stream_max_abs_diff"] <= 1e-5 and set(parity["per_chunk"]) == {"1", "7", "16"}
    assert parity["lengths"] == [7, 29] and parity["passed"]


def test_graph_predictions_equal_pytorch(quick_runs, sample_test_file):
    import torch

    from edgernn.runtime.datasets import read_ts
    from edgernn.trainer.network import last_step

    _, outcome, artifacts = quick_runs["lstm"]
    model = Model(artifacts["fp32"].path)
    data = read_ts(sample_test_file)
    probs = model.predict(data.sequences[:40], batch_size=7)
    standardise = FeatureFrontend(model.frontend.mean, model.frontend.std)  # PyTorch's model reads standardised frames
    for i, seq in enumerate(data.sequences[:40]):
        x = torch.from_numpy(standardise(model.prepare(seq)))[None]
        with torch.inference_mode():
            ref = torch.softmax(last_step(outcome.model(x)[0], torch.tensor([len(seq)])), dim=1)[0].numpy()
        np.testing.assert_allclose(probs[i], ref, atol=1e-5)


def test_failed_gate_names_gate_value_and_limit_and_writes_nothing(quick_runs, tmp_path):
    run_dir = quick_runs["gru"][0]
    with pytest.raises(ParityError) as info:
        export(run_dir / "model.pt", tmp_path, limits=ParityLimits(fp32_max_abs_diff=1e-12, float32_error_factor=0), log=lambda m: None)
    assert len(info.value.failures) == 1
    limit = float(info.value.failures[0].split("(limit <= ")[1].rstrip(")"))
    assert info.value.failures[0].startswith("fp32: gate fp32_vs_torch: ") and limit < 1e-10
    assert list(tmp_path.iterdir()) == []


def test_export_needs_held_out_data_when_none_is_recorded(quick_runs, tmp_path):
    import torch

    from edgernn.runtime.errors import InputError

    payload = torch.load(quick_runs["gru"][0] / "model.pt", weights_only=True)
    payload["dataset"]["test_path"] = str(tmp_path / "gone.ts")
    payload["dataset"]["load"]["data"] = str(tmp_path / "gone_TRAIN.ts")
    torch.save(payload, tmp_path / "model.pt")
    with pytest.raises(InputError, match="pass --data PATH"):
        export(tmp_path / "model.pt", log=lambda m: None)


def test_token_id_data_trains_exports_and_streams(tmp_path):
    """The Embedding path: int token ids [time] from an .npz, through export, parity and the runtime."""
    from edgernn.trainer.train import TrainConfig, train

    rng = np.random.default_rng(0)

    def split(n):  # class = whether token 3 occurs more often than token 4
        lengths = rng.integers(5, 30, size=n)
        x = np.zeros((n, 30), np.int64)
        for i, length in enumerate(lengths):
            x[i, :length] = rng.integers(1, 12, size=length)
        y = np.array([int((row[:k] == 3).sum() > (row[:k] == 4).sum()) for row, k in zip(x, lengths)])
        return {"x": x, "y": y, "lengths": lengths, "vocab_size": np.array(12)}

    np.savez(tmp_path / "toks_train.npz", **split(120))
    np.savez(tmp_path / "toks_test.npz", **split(40))
    outcome = train(tmp_path / "toks_train.npz", tmp_path / "run", {"cell": "gru", "hidden": 16, "embed_dim": 8},
                    TrainConfig(epochs=2, threads=1), log=lambda m: None)
    assert outcome.model.config.input_kind == "tokens" and outcome.model.config.vocab_size == 12
    art = export(outcome.checkpoint, log=lambda m: None)["fp32"]
    assert art.parity["max_abs_diff"] <= 1e-4 and art.parity["stream_max_abs_diff"] <= 1e-5
    model = Model(art.path)
    assert model.input_kind == "tokens" and model.metadata.vocab_size == 12
    ids = outcome.test_set.sequences[0]
    stream = model.stream()
    steps = np.concatenate([stream.push(ids[i:i + 1]) for i in range(len(ids))])
    np.testing.assert_allclose(steps[-1], model.predict([ids])[0], atol=1e-5)
    with pytest.raises(InputError, match=r"token id 12 at step 0 is outside \[0, 12\)"):
        stream.push(np.array([12]))


def test_export_leaves_every_module_in_eval_mode():
    """The exporter restores its wrapper's mode onto submodules: dropout must stay off afterwards."""
    from edgernn.export.torch_to_onnx import ExportContract, export_onnx
    from edgernn.trainer.network import ModelConfig, RecurrentClassifier

    model = RecurrentClassifier(ModelConfig(features=4, hidden=8, classes=3, dropout=0.5)).train()
    export_onnx(model, ExportContract.for_model(model))
    assert not any(module.training for module in model.modules())


def plain_session_probabilities(path, sequences: list[np.ndarray], frame: int) -> np.ndarray:
    """onnxruntime alone, no edgernn code: raw frames in (stacked ``frame`` at a time), zero
    state, the last step's softmax out; float64 [cases, classes]."""
    import json

    import onnxruntime as ort

    proto = onnx.load(path)
    runtime = json.loads({p.key: p.value for p in proto.metadata_props}.get(PREFIX + "runtime", "{}"))
    options = ort.SessionOptions()
    if runtime.get("graph_optimization_level") == "basic":  # the file asks for it (float16 graphs)
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    states = {i.name: np.zeros([1 if isinstance(d, str) else d for d in i.shape], np.float32) for i in session.get_inputs()[1:]}
    out = []
    for seq in sequences:
        steps = len(seq) // frame
        x = seq[: steps * frame].reshape(1, steps, frame * seq.shape[1]).astype(np.float32)
        logits = session.run(["logits"], {"x": x, **states})[0][0, -1].astype(np.float64)
        out.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    return np.array(out)


@pytest.mark.parametrize("name", ["plain", "framed"])
def test_a_plain_session_on_raw_frames_gives_the_runtimes_answers(raw_input_runs, sample_test_file, name):
    from edgernn.runtime.datasets import read_ts

    sequences = read_ts(sample_test_file).sequences
    for precision, artifact in raw_input_runs[name][1].items():
        model = Model(artifact.path)
        assert model.frontend.to_json()["standardised_in_graph"] is True and model.metadata.schema_version >= 2
        ops = Counter(n.name for n in onnx.load(artifact.path).graph.node)
        assert ops["standardise_sub"] == ops["standardise_mul"] == 1, precision
        plain = plain_session_probabilities(artifact.path, sequences, 3 if name == "framed" else 1)
        runtime = model.predict(sequences)
        assert (plain.argmax(1) == runtime.argmax(1)).all(), precision
        assert np.abs(plain - runtime).max() <= 1e-5, precision


def test_a_file_that_leaves_standardisation_to_the_runtime_still_loads_and_agrees(raw_input_runs, sample_test_file, tmp_path):
    """A graph of metadata schema 1 takes standardised frames; the runtime standardises for it."""
    import json

    from edgernn.export.torch_to_onnx import ExportContract, export_onnx, set_metadata
    from edgernn.runtime.datasets import read_ts
    from edgernn.trainer.checkpoint import load_checkpoint

    checkpoint, artifacts = raw_input_runs["plain"]
    torch_model, _ = load_checkpoint(checkpoint)
    old = export_onnx(torch_model, ExportContract.for_model(torch_model))
    assert not {"standardise_sub", "standardise_mul"} & {n.name for n in old.graph.node}
    props = {p.key: p.value for p in onnx.load(artifacts["fp32"].path).metadata_props}
    frontend = json.loads(props[PREFIX + "frontend"])
    del frontend["standardised_in_graph"]
    set_metadata(old, {**props, PREFIX + "schema_version": "1", PREFIX + "frontend": json.dumps(frontend)})
    path = tmp_path / "old.onnx"
    path.write_bytes(old.SerializeToString())
    sequences = read_ts(sample_test_file).sequences
    old_model, new_model = Model(path), Model(artifacts["fp32"].path)
    assert old_model.frontend.in_graph is False and old_model.metadata.schema_version == 1
    np.testing.assert_allclose(old_model.predict(sequences), new_model.predict(sequences), atol=1e-6)
    stream_old, stream_new = old_model.stream(), new_model.stream()
    for step in sequences[0]:  # the one-step fast path standardises only for the old file
        np.testing.assert_allclose(stream_old.push(step[None]), stream_new.push(step[None]), atol=1e-6)
