"""The log-mel front end as an ONNX graph (export/logmel_graph.py) against runtime/audio.py:
the same frames to 1e-4 from raw samples, in pieces of any number of hops, streams batched."""

from __future__ import annotations

import numpy as np
import onnxruntime as ort
import pytest

from edgernn.export.logmel_graph import logmel_graph, without_frontend
from edgernn.runtime.audio import LogMelConfig
from edgernn.runtime.frontend import FeatureFrontend, LogMelFrontend


def speech_like(rate: int, seconds: float, seed: int) -> np.ndarray:
    """Noise at a low floor with tones and bursts at several levels: float32 samples in [-1, 1]."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(rate * seconds)) / rate
    tone = 0.3 * np.sin(2 * np.pi * 440 * t) * (t > 0.5) * (t < 1.5) + 0.05 * np.sin(2 * np.pi * 2500 * t) * (t > 1.2)
    return (tone + 10 ** rng.uniform(-4, -2) * rng.standard_normal(len(t))).astype(np.float32)


def run_stream(session: ort.InferenceSession, config: LogMelConfig, audio: np.ndarray, hops_per_call: list[int]) -> np.ndarray:
    """Prime the overlap state with the first window - hop samples, then call with the given
    numbers of hops in turn (cycling) until no whole hop is left: float32 [frames, bands]."""
    overlap, hop = config.window - config.hop, config.hop
    state = {"audio": audio[None, :overlap], "norm_mean": np.zeros((1, config.mel_bands), np.float32),
             "norm_frames": np.zeros((1, 1), np.float32)}
    rest, out, position, call = audio[overlap:], [], 0, 0
    while position + hop <= len(rest):
        hops = min(hops_per_call[call % len(hops_per_call)], (len(rest) - position) // hop)
        frames, *states = session.run(None, {"samples": rest[None, position:position + hops * hop], **state})
        state = dict(zip(state, states))
        out.append(frames[0])
        position, call = position + hops * hop, call + 1
    return np.concatenate(out)


@pytest.mark.parametrize("config", [LogMelConfig(sample_rate=16000, mean_norm_ms=200.0), LogMelConfig(sample_rate=8000),
                                    LogMelConfig(sample_rate=16000, window_ms=32.0, hop_ms=16.0, mel_bands=24)],
                         ids=["16k-running-mean", "8k", "16k-32ms"])
def test_the_graph_gives_the_runtimes_frames_in_pieces_of_any_number_of_hops(config):
    rng = np.random.default_rng(1)
    norm = FeatureFrontend(rng.normal(size=config.mel_bands).astype(np.float32),
                           rng.uniform(1, 3, config.mel_bands).astype(np.float32))
    session = ort.InferenceSession(logmel_graph(config, norm).SerializeToString(), providers=["CPUExecutionProvider"])
    audio = speech_like(config.sample_rate, 2.3, seed=2)
    expected = LogMelFrontend(config, norm)(audio)
    assert len(expected) == 1 + (len(audio) - config.window) // config.hop
    one_call = run_stream(session, config, audio, [len(audio)])
    for hops in ([1], [3, 1, 7], [50]):
        got = run_stream(session, config, audio, hops)
        assert got.shape == expected.shape
        assert np.abs(got - expected).max() <= 1e-4, hops
        np.testing.assert_allclose(got, one_call, atol=1e-5)


def test_streams_batched_together_each_equal_their_own():
    config = LogMelConfig(sample_rate=8000, mean_norm_ms=200.0)
    norm = FeatureFrontend(np.zeros(config.mel_bands, np.float32), np.ones(config.mel_bands, np.float32))
    session = ort.InferenceSession(logmel_graph(config, norm).SerializeToString(), providers=["CPUExecutionProvider"])
    streams = [speech_like(8000, 1.0, seed) for seed in (3, 4)]
    overlap, hop = config.window - config.hop, config.hop
    state = {"audio": np.stack([s[:overlap] for s in streams]), "norm_mean": np.zeros((2, config.mel_bands), np.float32),
             "norm_frames": np.zeros((2, 1), np.float32)}
    batched = []
    for start in range(overlap, 8000 - 4 * hop, 4 * hop):
        frames, *states = session.run(None, {"samples": np.stack([s[start:start + 4 * hop] for s in streams]), **state})
        state = dict(zip(state, states))
        batched.append(frames)
    batched = np.concatenate(batched, axis=1)
    for i, audio in enumerate(streams):
        alone = LogMelFrontend(config, norm)(audio)[: batched.shape[1]]
        assert np.abs(batched[i] - alone).max() <= 1e-4


def plain_onnxruntime_answers(path, recordings: list[np.ndarray]) -> np.ndarray:
    """Class probabilities of whole recordings from a bare onnxruntime session, reading only the
    file's own metadata (onnx reads it; no edgernn code): the first ``primer_samples`` samples into the primer
    state, the rest as hops, every other state zero, softmax of the last step's logits."""
    import json

    import onnx

    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    options = ort.SessionOptions()  # the optimisation level the file asks for (fp16: basic; see its metadata)
    if json.loads(meta.get("edgernn.runtime", "{}")).get("graph_optimization_level") == "basic":
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    in_graph = json.loads(meta["edgernn.frontend"])["in_graph"]
    hop, primer = in_graph["step_samples"], in_graph["primer_samples"]
    answers = []
    for samples in recordings:
        hops = (len(samples) - primer) // hop
        feeds = {i.name: np.zeros([d if isinstance(d, int) else 1 for d in i.shape], np.float32) for i in session.get_inputs()}
        feeds["x"] = samples[None, primer: primer + hops * hop].reshape(1, hops, hop)
        feeds[in_graph["primer_state"]] = samples[None, :primer]
        logits = session.run(["logits"], feeds)[0][0, -1].astype(np.float64)
        answers.append(np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum())
    return np.array(answers)


def test_audio_graphs_take_samples_and_give_the_runtimes_answers_without_edgernn(audio_graphs):
    from edgernn.runtime import Model

    outcome, artifacts = audio_graphs
    clips = outcome.test_set.sequences
    for precision, artifact in artifacts.items():
        model = Model(artifact.path)
        assert model.frontend.in_graph and model.metadata.features == 80, precision  # one 10 ms hop at 8 kHz
        gate = artifact.parity["frontend_in_graph"]
        assert artifact.parity["passed"] and gate["sequences"] == len(clips), precision
        if precision == "fp32":  # the samples-in file is the frames-in graph to float32 rounding
            assert gate["max_abs_diff"] <= 1e-4 * max(1.0, gate["logit_scale"]) and gate["stream_max_abs_diff"] <= 1e-6
        # one recording per call, as the bare session runs them (dynamic int8 quantizes per call)
        expected, plain = model.predict(clips, batch_size=1), plain_onnxruntime_answers(artifact.path, clips)
        assert (plain.argmax(1) == expected.argmax(1)).all(), precision
        np.testing.assert_allclose(plain, expected, atol=1e-6, err_msg=precision)
    # the front end stays float64/float32 in every precision: the same DFT and Log ops, no int8 or fp16 in them
    fp16_ops = artifacts["fp16"].footprint["op_counts"]
    assert fp16_ops.get("DFT") == 1 and fp16_ops.get("Log") == 1


def test_audio_graphs_answer_as_the_python_front_end_feeding_the_model(audio_graphs, tmp_path):
    """A file that takes log-mel frames (metadata schema 2, as exported before) still loads, and
    gives the answers of the file that computes its frames itself, clip by clip and stream by stream."""
    import onnx

    from edgernn.export.torch_to_onnx import ExportContract, export_onnx, graph_metadata, set_metadata
    from edgernn.runtime import Model
    from edgernn.runtime.frontend import frontend_from_json
    from edgernn.trainer.checkpoint import load_checkpoint

    outcome, artifacts = audio_graphs
    torch_model, payload = load_checkpoint(outcome.checkpoint)
    frames_in = export_onnx(torch_model, ExportContract.for_model(torch_model))
    meta = graph_metadata(torch_model, ExportContract.for_model(torch_model), payload["labels"],
                          frontend_from_json(payload["frontend"]).to_json(), "fp32", "old", {})
    meta.schema_version = 2
    set_metadata(frames_in, meta.to_props())
    onnx.save(frames_in, tmp_path / "frames_in.onnx")
    old, new = Model(tmp_path / "frames_in.onnx"), Model(artifacts["fp32"].path)
    assert not old.frontend.in_graph and old.metadata.features == 16
    # the exported file less its front end is that graph again (benchmarks/logmel_graph_cost.py times the two)
    core = ort.InferenceSession(without_frontend(onnx.load(artifacts["fp32"].path)).SerializeToString(),
                                providers=["CPUExecutionProvider"])
    frames = old.prepare(outcome.test_set.sequences[0])[None]
    np.testing.assert_allclose(core.run(["logits"], {"x": frames, **old.zero_state(1)})[0],
                               old.run(frames, old.zero_state(1))[0], atol=1e-6)
    clips = outcome.test_set.sequences
    np.testing.assert_allclose(new.predict(clips), old.predict(clips), atol=1e-4)
    rng = np.random.default_rng(0)
    for clip in clips[:4]:
        cuts = np.sort(rng.integers(0, len(clip), size=6))
        old_stream, new_stream = old.stream(), new.stream()
        pieces = np.split(clip, cuts)
        old_steps = np.concatenate([old_stream.push(p) for p in pieces])
        new_steps = np.concatenate([new_stream.push(p) for p in pieces])
        assert len(new_steps) == len(old_steps) == new.frontend.config.frame_count(len(clip))
        np.testing.assert_allclose(new_steps, old_steps, atol=1e-4)


def test_zeroing_the_recurrent_state_keeps_the_audio_front_end_going(audio_graphs):
    from edgernn.runtime import Model

    outcome, artifacts = audio_graphs
    model = Model(artifacts["fp32"].path)
    clip = outcome.test_set.sequences[0]
    stream = model.stream()
    first = stream.push(clip)
    before = stream.state
    stream.reset_state()
    after = stream.state
    assert not after["h"].any() and not after["c"].any() and before["h"].any()
    for name in ("audio", "norm_mean", "norm_frames"):  # the window overlap and the running mean go on
        np.testing.assert_array_equal(after[name], before[name])
    assert after["norm_frames"][0, 0] == len(first)
    stream.reset()  # everything: the next samples prime the window again
    assert not any(value.any() for value in stream.state.values())
    np.testing.assert_array_equal(stream.push(clip), first)
    batch = model.batch()
    sid = batch.open()
    np.testing.assert_allclose(batch.push({sid: clip})[sid], first, atol=1e-6)
    batch.reset(sid)
    np.testing.assert_allclose(batch.push({sid: clip[:500]})[sid], first[: model.frontend.config.frame_count(500)], atol=1e-6)


def test_check_judges_an_audio_graph_against_pytorch_on_whole_recordings(audio_graphs):
    import json

    from click.testing import CliRunner

    from edgernn.cli.main import cli

    outcome, artifacts = audio_graphs
    rec = outcome.run_dir.parent / "rec"
    common = ["--data", str(rec), "--label-regex", r"^([a-z]+)_", "--test-regex", r"_[0-1]\.wav$", "--long-steps", "2000", "--json"]
    result = CliRunner().invoke(cli, ["check", str(artifacts["fp32"].path), "--checkpoint", str(outcome.checkpoint), *common])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout[: result.stdout.rindex("}") + 1])
    gates = {g["gate"]: g for g in report["gates"]}
    assert {"frontend_in_graph", "frontend_in_graph_streaming", "streaming"} <= set(gates)
    assert gates["frontend_in_graph"]["value"] <= 1e-4 and all(g["passed"] for g in gates.values())
    assert report["details"]["baselines"]["cases"] == len(outcome.test_set)


def test_a_hop_as_long_as_the_window_leaves_the_overlap_state_empty(tmp_path):
    from test_wav import make_digit_folder

    from edgernn.export.exporter import export
    from edgernn.runtime import Model
    from edgernn.trainer.config import TrainConfig
    from edgernn.trainer.train import train

    outcome = train(make_digit_folder(tmp_path / "rec"), tmp_path / "run", {"cell": "gru", "hidden": 8},
                    TrainConfig(epochs=1, seed=0, threads=1, mel_bands=8, window_ms=20.0, hop_ms=20.0), log=lambda m: None,
                    label_regex=r"^([a-z]+)_", test_regex=r"_[0-1]\.wav$")
    artifact = export(outcome.checkpoint, precisions=("fp32",), log=lambda m: None)["fp32"]
    gate = artifact.parity["frontend_in_graph"]
    assert artifact.parity["passed"] and gate["max_abs_diff"] <= 1e-4 * max(1.0, gate["logit_scale"])
    model = Model(artifact.path)
    assert model.frontend.primer_samples == 0 and model.zero_state(1)["audio"].shape == (1, 0)
    clips = outcome.test_set.sequences
    whole = model.predict(clips)
    for clip, expected in zip(clips, whole):
        stream = model.stream()
        steps = np.concatenate([stream.push(piece) for piece in np.array_split(clip, 7)])
        assert len(steps) == model.frontend.config.frame_count(len(clip))
        np.testing.assert_allclose(steps[-1], expected, atol=1e-6)


def test_the_gate_reports_answers_that_are_ties_within_the_difference():
    """Two classes whose logits lie closer than the graphs differ: the answers differ, the logits
    pass the fp32 gate, and the recording counts as a tie; logits a whole unit apart fail it."""
    from edgernn.export.gates import FRONTEND_FP32_GATES, FRONTEND_QUANTIZED_GATES, ParityLimits, frontend_in_graph, judge

    config = LogMelConfig(sample_rate=8000, mel_bands=4)
    frontend = LogMelFrontend(config, FeatureFrontend(np.zeros(4, np.float32), np.ones(4, np.float32)), in_graph=True)

    class Joined:  # a graph whose logits are [1, 1 + 1e-6] at every step, states passed through
        def get_inputs(self):
            return [type("Input", (), {"name": n, "shape": s})() for n, s in
                    (("x", [1, 1, 80]), ("audio", [1, 120]), ("norm_mean", [1, 4]), ("norm_frames", [1, 1]))]

        def run(self, _, feeds):
            steps = feeds["x"].shape[1]
            return [np.tile(np.array([1.0, 1.0 + 1e-6], np.float32), (1, steps, 1)), feeds["audio"], feeds["norm_mean"],
                    feeds["norm_frames"]]

    def reference(logits):
        return lambda frames: np.tile(np.array(logits, np.float32), (1, frames.shape[1], 1))

    recording = speech_like(8000, 0.5, 0)
    measured = frontend_in_graph(Joined(), reference([1.0 + 1e-6, 1.0]), [recording], frontend, (1,))
    assert measured["top1_agreement"] == 0.0 and measured["ties"] == 1 and measured["stream_max_abs_diff"] == 0.0
    assert [g.passed for g in judge({"frontend_in_graph": measured}, FRONTEND_FP32_GATES, ParityLimits())] == [True]
    measured = frontend_in_graph(Joined(), reference([2.0, 1.0]), [recording], frontend, (1,))
    assert measured["top1_agreement"] == 0.0 and measured["max_abs_diff"] == pytest.approx(1.0)
    assert [g.passed for g in judge({"frontend_in_graph": measured}, FRONTEND_FP32_GATES, ParityLimits())] == [False]
    # a quantized graph is judged by its answers: 1 changed answer of 200 is within chance at a 1% rate, 10 are not
    for changed, passed in ((1, True), (10, False)):
        summary = {"frontend_in_graph": {"top1_agreement": 1 - changed / 200, "sequences": 200}}
        assert [g.passed for g in judge(summary, FRONTEND_QUANTIZED_GATES, ParityLimits())] == [passed]
