"""The runtime: Model, predict, Stream, and what it refuses (runtime/model.py)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgernn.runtime import InputError, InputTypeError, MetadataError, Model, ModelFileError
from edgernn.runtime.datasets import read_ts
from edgernn.runtime.metadata import PREFIX


@pytest.fixture(scope="module")
def model(gru_onnx):
    return Model(gru_onnx, threads=1)


@pytest.fixture(scope="module")
def sequences(sample_test_file):
    return read_ts(sample_test_file).sequences


def test_labels_and_metadata(model):
    assert model.labels == [str(i) for i in range(1, 10)]
    assert model.metadata.cell == "gru" and model.input_kind == "features"


@pytest.mark.parametrize("chunk", [1, 3, 7, 16, 100])
def test_stream_in_chunks_equals_predict_on_the_whole_sequence(model, sequences, chunk):
    whole = model.predict(sequences[:25])
    for i, seq in enumerate(sequences[:25]):
        stream = model.stream()
        per_step = np.concatenate([stream.push(seq[s:s + chunk]) for s in range(0, len(seq), chunk)])
        assert per_step.shape == (len(seq), 9) and stream.steps == len(seq)
        np.testing.assert_allclose(per_step[-1], whole[i], atol=1e-5)
        np.testing.assert_allclose(per_step.sum(axis=1), 1.0, atol=1e-5)


def test_predict_is_order_and_batch_independent(model, sequences):
    subset = sequences[:30]
    a = model.predict(subset, batch_size=64)
    b = model.predict(subset[::-1], batch_size=4)[::-1]
    c = np.concatenate([model.predict([s]) for s in subset])
    np.testing.assert_allclose(a, b, atol=1e-6)
    np.testing.assert_allclose(a, c, atol=1e-6)


def test_reset_and_empty_chunk(model, sequences):
    stream = model.stream()
    first = stream.push(sequences[0])
    empty = stream.push(np.zeros((0, 12), np.float32))
    assert empty.shape == (0, 9) and stream.steps == len(sequences[0])
    stream.push(sequences[1])
    stream.reset()
    assert stream.steps == 0 and all(not v.any() for v in stream.state.values())
    np.testing.assert_allclose(stream.push(sequences[0]), first, atol=1e-6)


@pytest.mark.parametrize("chunk, error, message", [
    (np.zeros((2, 12), np.int32), InputTypeError, "expected float feature frames"),
    (np.zeros((2, 11), np.float32), InputError, r"chunk: expected shape \[time, 12\], got \[2, 11\]"),
    (np.zeros((1, 2, 12), np.float32), InputError, r"expected shape \[time, 12\]"),
    (np.full((3, 12), np.nan, np.float32), InputError, "NaN/Inf at step 0, feature 0"),
])
def test_stream_refuses_bad_chunks_and_keeps_its_state(model, sequences, chunk, error, message):
    stream = model.stream()
    stream.push(sequences[0])
    before = stream.state
    with pytest.raises(error, match=message):
        stream.push(chunk)
    assert all(np.array_equal(before[k], v) for k, v in stream.state.items())


def test_predict_refuses_an_empty_sequence(model, sequences):
    with pytest.raises(InputError, match="sequence 1 is empty"):
        model.predict([sequences[0], np.zeros((0, 12), np.float32)])


def test_corrupt_truncated_and_missing_files(gru_onnx, tmp_path):
    cut = tmp_path / "cut.onnx"
    cut.write_bytes(gru_onnx.read_bytes()[:1000])
    with pytest.raises(ModelFileError, match="cannot load it as an ONNX graph"):
        Model(cut)
    empty = tmp_path / "empty.onnx"
    empty.write_bytes(b"")
    with pytest.raises(ModelFileError, match="the file is empty"):
        Model(empty)
    with pytest.raises(ModelFileError, match="no such model file"):
        Model(tmp_path / "absent.onnx")


def _rewrite_metadata(source, target, change):
    proto = onnx.load(source)
    props = {p.key: p.value for p in proto.metadata_props}
    change(props)
    del proto.metadata_props[:]
    for key, value in props.items():
        proto.metadata_props.add(key=key, value=value)
    onnx.save(proto, target)
    return target


def test_graph_without_edgernn_metadata(gru_onnx, tmp_path):
    path = _rewrite_metadata(gru_onnx, tmp_path / "bare.onnx", lambda p: p.clear())
    with pytest.raises(MetadataError, match="no edgernn metadata"):
        Model(path)


@pytest.mark.parametrize("change, message", [
    (lambda p: p.pop(PREFIX + "labels"), "metadata keys missing: edgernn.labels"),
    (lambda p: p.update({PREFIX + "schema_version": "9"}), "schema_version is 9"),
    (lambda p: p.update({PREFIX + "state": '[{"input": "h", "output": "h_out", "shape": [1, "batch", 24], "batch_axis": 1},'
                                           ' {"input": "c", "output": "c_out", "shape": [1, "batch", 24], "batch_axis": 1}]'}),
     "state 'c'->'c_out' is not an input/output pair"),
    (lambda p: p.update({PREFIX + "input_kind": "tokens", PREFIX + "vocab_size": "5"}), "input 'x' is tensor\\(float\\)"),
])
def test_bad_metadata_is_named(gru_onnx, tmp_path, change, message):
    with pytest.raises(MetadataError, match=message):
        Model(_rewrite_metadata(gru_onnx, tmp_path / "m.onnx", change))


def test_missing_execution_provider_is_an_error_not_a_fallback(gru_onnx):
    import onnxruntime

    if "CUDAExecutionProvider" in onnxruntime.get_available_providers():
        pytest.skip("this onnxruntime has CUDA")
    with pytest.raises(InputError, match=r"device 'cuda' needs onnxruntime's CUDAExecutionProvider.*available: \["):
        Model(gru_onnx, device="cuda")
    with pytest.raises(InputError, match=r"device must be one of \['cpu', 'cuda'\]"):
        Model(gru_onnx, device="tpu")


def test_nonfinite_inputs_are_refused_unless_allowed(gru_onnx, tmp_path):
    from click.testing import CliRunner

    from edgernn.cli.main import cli

    bad = np.ones((5, 12), np.float32)
    bad[3, 7] = np.inf
    strict, lenient = Model(gru_onnx), Model(gru_onnx, allow_nonfinite=True)
    with pytest.raises(InputError, match="NaN/Inf at step 3, feature 7; inputs must be finite"):
        strict.predict([bad])
    stream = strict.stream()
    stream.push(bad[:3])
    before = stream.state["h"].copy()
    with pytest.raises(InputError, match="NaN/Inf at step 0, feature 7"):
        stream.push(bad[3:4])
    np.testing.assert_array_equal(stream.state["h"], before)  # a refused chunk changes nothing
    assert stream.steps == 3
    assert lenient.predict([bad]).shape == (1, 9)
    assert lenient.stream().push(bad).shape == (5, 9)
    batch = lenient.batch()
    assert batch.push_array([batch.open()], bad[None]).shape == (1, 5, 9)
    np.savez(tmp_path / "bad.npz", x=bad[None], y=np.array(["1"]))
    refused = CliRunner().invoke(cli, ["predict", str(gru_onnx), str(tmp_path / "bad.npz")])
    assert refused.exit_code == 2 and "NaN/Inf at step 3, feature 7" in refused.output
    allowed = CliRunner().invoke(cli, ["predict", str(gru_onnx), str(tmp_path / "bad.npz"), "--allow-nonfinite"])
    assert allowed.exit_code == 0, allowed.output


def test_reset_policies_every_n_steps_and_after_idle(gru_onnx, sample_test_file, monkeypatch):
    import edgernn.runtime.model as model_module
    from edgernn.runtime import ResetPolicy

    model = Model(gru_onnx)
    seq = np.concatenate(read_ts(sample_test_file).sequences[:3])[:35]
    stream = model.stream(reset=ResetPolicy(every_steps=10))
    got = np.concatenate([stream.push(seq[t:t + 1]) for t in range(35)])
    expected = np.concatenate([model.stream().push(seq[s:s + 10]) for s in range(0, 35, 10)])
    np.testing.assert_allclose(got, expected, atol=1e-5)  # the state starts from zero every 10 steps
    assert stream.resets == 3 and stream.steps == 35

    clock = {"now": 100.0}
    monkeypatch.setattr(model_module.time, "monotonic", lambda: clock["now"])
    idle = model.stream(reset=ResetPolicy(idle_seconds=2.0))
    idle.push(seq[:5])
    clock["now"] += 1.0
    idle.push(seq[5:6])  # one second later: the state carries on
    assert idle.resets == 0 and idle.state["h"].any()
    clock["now"] += 5.0
    after = idle.push(seq[6:7])  # five seconds of silence from the producer: a fresh start
    assert idle.resets == 1
    np.testing.assert_allclose(after, model.stream().push(seq[6:7]), atol=1e-6)
    with pytest.raises(InputError, match="silence_seconds needs an audio model"):
        model.stream(reset=ResetPolicy(silence_seconds=1.0))
    with pytest.raises(InputError, match="every value must be > 0"):
        ResetPolicy(every_steps=0)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no overflow warnings: the safe form is chosen first
@pytest.mark.parametrize("rows", [1, 7, 64, 300])
@pytest.mark.parametrize("scale", [1.0, 30.0, 200.0])  # 30: within EXP_SAFE_LOGIT or past it; 200: past float32's exp range
def test_softmax_matches_float64_in_both_forms(rows, scale):
    from edgernn.runtime import softmax

    logits = (scale * np.random.default_rng(rows).standard_normal((rows, 2, 9))).astype(np.float32)
    if scale == 1.0:
        logits[0, 0] -= 150.0  # a row whose exp underflows everywhere unless its max is subtracted
    expected = np.exp(logits.astype(np.float64) - logits.max(axis=-1, keepdims=True))
    expected /= expected.sum(axis=-1, keepdims=True)
    probs = softmax(logits)
    assert probs.dtype == np.float32 and probs.shape == logits.shape and np.isfinite(probs).all()
    np.testing.assert_allclose(probs, expected, atol=2e-7, rtol=1e-5)


def test_one_frame_push_equals_the_general_path_and_refuses_nan(model, sequences):
    seq = sequences[0].astype(np.float32)
    fast, general = model.stream(), model.stream()
    for step in range(len(seq)):
        frame = np.ascontiguousarray(seq[step:step + 1])
        np.testing.assert_allclose(fast.push(frame), general.push(frame.astype(np.float64)), atol=1e-6)
    bad = seq[:1].copy()
    bad[0, 3] = np.nan
    with pytest.raises(InputError, match="NaN"):
        fast.push(bad)
    huge = np.full((1, seq.shape[1]), 3e19, dtype=np.float32)  # squares overflow: the general path takes it
    assert np.isfinite(fast.push(huge)).all()


def test_push_in_pieces_equals_one_push_and_refuses_a_zero_piece(model, sequences):
    seq = sequences[1]
    pieces = list(model.stream().push_in_pieces(seq, 5))
    assert len(pieces) == -(-len(seq) // 5) + 1 and len(pieces[-1]) == 0  # the flush of a feature model is empty
    np.testing.assert_allclose(np.concatenate(pieces), model.stream().push(seq), atol=1e-5)
    with pytest.raises(InputError, match="piece must be >= 1 element, got 0"):
        next(model.stream().push_in_pieces(seq, 0))


def test_bound_runs_fall_back_to_the_public_call_without_onnxruntime_internals(gru_onnx):
    """Stream calls onnxruntime's compiled session directly where it can; a session object
    without those internals gets the public run_with_iobinding, with the same answers."""

    class PublicOnly:  # a session's public face, nothing else
        def __init__(self, session):
            self.session, self.calls = session, 0

        def io_binding(self):
            return self.session.io_binding()

        def run_with_iobinding(self, binding):
            self.calls += 1
            self.session.run_with_iobinding(binding)

    model = Model(gru_onnx, threads=1)
    frames = np.random.default_rng(0).standard_normal((5, 1, 12)).astype(np.float32)
    direct, public = model.stream(), model.stream()
    public._session = PublicOnly(model.session)
    public._step_bindings = public._bind_one_step()
    for frame in frames:
        np.testing.assert_allclose(direct.push(frame), public.push(frame), atol=1e-6)
    assert public._session.calls == 5


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_one_step_softmax_keeps_its_precision_for_extreme_logits(model, sequences):
    """The bound one-step path's exp-first softmax hands logits past float32's exp range, or so
    negative that every exp is subnormal, to the max-subtracted form."""
    from edgernn.runtime import softmax

    stream = model.stream()
    for shift in (-150.0, 95.0):
        stream._logits_frame[...] = 0.0
        original = stream._step_bindings[0]

        def shifted_run():
            original()
            stream._logits_frame += np.float32(shift)  # what a model with such logits would write
        stream._step_bindings[0] = shifted_run
        probs = stream.push(np.ascontiguousarray(sequences[0][:1], dtype=np.float32))
        stream._step_bindings[0] = original
        np.testing.assert_allclose(probs, softmax(stream._logits_frame - np.float32(shift)), rtol=1e-5, atol=1e-7)
