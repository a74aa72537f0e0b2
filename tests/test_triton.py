"""The Triton model repository (export/triton.py): a batch-first graph equal to the fp32 one, a
config.pbtxt that Triton's own model-config protobuf reads, and a simulated sequence batcher
whose interleaved sequences each equal their solo stream."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgernn.runtime import Model


@pytest.fixture(scope="module")
def repository(raw_input_runs, tmp_path_factory):
    from edgernn.cli.main import cli
    from click.testing import CliRunner

    out = tmp_path_factory.mktemp("triton")
    result = CliRunner().invoke(cli, ["export", str(raw_input_runs["framed"][0]), "--precision", "fp32", "--out",
                                      str(out / "graphs"), "--triton", str(out / "repo"), "--triton-name", "vowels"])
    assert result.exit_code == 0, result.output
    return out / "repo" / "vowels", out / "graphs" / "model.fp32.onnx"


def test_the_repository_holds_a_config_triton_reads_and_a_batch_first_graph(repository):
    model_config_pb2 = pytest.importorskip("tritonclient.grpc.model_config_pb2",
                                           reason="needs tritonclient[grpc] (the test extra installs it)")
    from google.protobuf import text_format

    folder, fp32 = repository
    config = text_format.Parse((folder / "config.pbtxt").read_text(), model_config_pb2.ModelConfig())
    graph = Model(folder / "1" / "model.onnx")
    assert config.name == "vowels" and config.backend == "onnxruntime" and config.max_batch_size == 64
    assert [(i.name, list(i.dims)) for i in config.input] == [("x", [-1, graph.metadata.features])]
    assert [(o.name, list(o.dims), o.label_filename) for o in config.output] == [("logits", [-1, 9], "labels.txt")]
    assert (folder / "labels.txt").read_text().split() == graph.labels
    assert config.sequence_batching.HasField("oldest") and not config.sequence_batching.control_input
    (state,) = config.sequence_batching.state
    spec = graph.metadata.state[0]
    assert (state.input_name, state.output_name, spec.batch_axis) == ("h", "h_out", 0)
    assert list(state.dims) == list(spec.shape[1:]) == [1, 16]  # [layers, hidden] after the batch
    assert state.initial_state[0].zero_data and list(state.initial_state[0].dims) == [1, 16]


def test_interleaved_sequences_in_one_batch_each_equal_their_solo_stream(repository, sample_test_file):
    """Triton's sequence batcher with implicit state, played by hand: each tick batches the next
    graph step of every live sequence (started and ended at different ticks), each sequence's
    state kept between its requests and zero at its start."""
    from edgernn.runtime.datasets import read_ts

    folder, fp32 = repository
    server = ort.InferenceSession(str(folder / "1" / "model.onnx"), providers=["CPUExecutionProvider"])
    solo = Model(fp32)
    frontend = solo.frontend
    sequences = [frontend(frontend.check(s)) for s in read_ts(sample_test_file).sequences[:6]]  # graph steps
    starts = [0, 0, 2, 3, 5, 9]
    state = {}
    got = {i: [] for i in range(len(sequences))}
    for tick in range(max(s + len(q) for s, q in zip(starts, sequences))):
        live = [i for i, (s, q) in enumerate(zip(starts, sequences)) if s <= tick < s + len(q)]
        for i in live:
            if tick == starts[i]:
                state[i] = np.zeros((1, 1, 16), np.float32)  # initial_state zero_data
        x = np.stack([sequences[i][tick - starts[i]][None] for i in live])
        logits, h = server.run(["logits", "h_out"], {"x": x, "h": np.concatenate([state[i] for i in live])})
        for row, i in enumerate(live):
            got[i].append(logits[row, 0])
            state[i] = h[row:row + 1]
    assert len({len(live) for live in [[i for i, (s, q) in enumerate(zip(starts, sequences)) if s <= t < s + len(q)]
                                       for t in range(12)]}) > 2  # the batch really grew and shrank
    reference = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    for i, seq in enumerate(sequences):
        alone = reference.run(["logits"], {"x": seq[None], "h": np.zeros((1, 1, 16), np.float32)})[0][0]
        np.testing.assert_allclose(np.array(got[i]), alone, atol=1e-5)
