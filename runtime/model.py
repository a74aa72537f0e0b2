"""Load an edgernn graph and run it: whole sequences (``predict``) or step by step (``stream``).

Only numpy and onnxruntime are imported here, so an edge device needs nothing else.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np
import onnxruntime as ort

from edgernn.runtime.datasets import pad_sequences
from edgernn.runtime.file_kinds import checkpoint_given_as_graph
from edgernn.runtime.errors import InputError, ModelFileError, MetadataError
from edgernn.runtime.frontend import frontend_from_json
from edgernn.runtime.metadata import OPTIMIZATION_LEVELS, GraphMetadata, StateSpec
from edgernn.runtime.external_data import check_external_data
from edgernn.runtime.softmax import EXP_SAFE_SQUARED, softmax

if TYPE_CHECKING:
    from edgernn.runtime.batch import StreamBatch

DEVICES = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}
X_DTYPES = {"features": "tensor(float)", "tokens": "tensor(int64)"}


ORT_LEVELS = dict(zip(OPTIMIZATION_LEVELS, (
    ort.GraphOptimizationLevel.ORT_DISABLE_ALL, ort.GraphOptimizationLevel.ORT_ENABLE_BASIC,
    ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED, ort.GraphOptimizationLevel.ORT_ENABLE_ALL)))


def make_session(source: str | bytes, device: str = "cpu", threads: int | None = None,
                 session_config: dict[str, str] | None = None, optimization: str = "all") -> ort.InferenceSession:
    """An onnxruntime session on ``device`` ("cpu" | "cuda") with ``threads`` intra-op threads,
    the given session config entries and graph optimisation level (both from the graph's
    ``runtime`` metadata).

    Never falls back silently: a missing execution provider raises InputError listing those
    this onnxruntime build has.
    """
    if device not in DEVICES:
        raise InputError(f"device must be one of {list(DEVICES)}, got {device!r}")
    provider = DEVICES[device]
    available = ort.get_available_providers()
    if provider not in available:
        raise InputError(
            f"device {device!r} needs onnxruntime's {provider}, which this onnxruntime lacks; available: {available}"
            + (" (install the 'gpu' extra: onnxruntime-gpu)" if device == "cuda" else "")
        )
    if optimization not in ORT_LEVELS:
        raise MetadataError(f"graph_optimization_level must be one of {list(ORT_LEVELS)}, got {optimization!r}")
    if threads is not None and threads < 1:
        raise InputError(f"threads must be >= 1, got {threads}")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads or 0  # 0: onnxruntime's default (one per core)
    options.inter_op_num_threads = 1  # a recurrent graph is a chain: no parallel branches to run
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.log_severity_level = 3
    options.graph_optimization_level = ORT_LEVELS[optimization]
    for key, value in (session_config or {}).items():
        options.add_session_config_entry(key, value)
    providers = [provider] if provider == "CPUExecutionProvider" else [provider, "CPUExecutionProvider"]
    try:
        return ort.InferenceSession(source, sess_options=options, providers=providers)
    except Exception as exc:  # onnxruntime raises its own Exception subclasses (InvalidProtobuf, Fail, ...)
        where = source if isinstance(source, str) else "<bytes>"
        advice = checkpoint_given_as_graph(source) if isinstance(source, str) else None
        raise ModelFileError(advice or f"{where}: onnxruntime cannot load it as an ONNX graph "
                                       f"({type(exc).__name__}: {str(exc)[:300]})") from None


class Model:
    """An exported edgernn graph, ready to run.

    path: a ``.onnx`` file written by ``edgernn export``.
    device: "cpu" or "cuda". threads: intra-op threads (None: onnxruntime's default).
    allow_nonfinite: pass NaN/Inf inputs to the graph instead of refusing them (InputError naming
    the first one, the default).
    """

    def __init__(self, path: str | os.PathLike, device: str = "cpu", threads: int | None = None,
                 allow_nonfinite: bool = False):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelFileError(f"{self.path}: no such model file")
        if self.path.stat().st_size == 0:
            raise ModelFileError(f"{self.path}: the file is empty")
        check_external_data(self.path, self.path.read_bytes())
        self.device = device
        self.threads = threads
        self.allow_nonfinite = allow_nonfinite
        # The metadata is read through a session with every optimisation off: some graphs must not
        # be optimised at the default level (fp16 ones crash onnxruntime 1.32), and the file says so.
        probe = make_session(str(self.path), "cpu", 1, optimization="disabled")
        try:
            self.metadata = GraphMetadata.from_props(probe.get_modelmeta().custom_metadata_map)
        except MetadataError as exc:
            raise MetadataError(f"{self.path}: {exc}") from None
        del probe
        self.session_config = self.metadata.runtime.get("session_config", {})
        self.optimization = self.metadata.runtime.get("graph_optimization_level", "all")
        self.session = make_session(str(self.path), device, threads, self.session_config, self.optimization)
        self.frontend = frontend_from_json(self.metadata.frontend)
        self._check_graph_matches_metadata()
        self.state_specs: list[StateSpec] = self.metadata.state
        self._state_outputs = [s.output for s in self.state_specs]

    @property
    def labels(self) -> list[str]:
        return self.metadata.labels

    @property
    def input_kind(self) -> str:
        return self.metadata.input_kind

    @property
    def background(self) -> str | None:
        """The label meaning "nothing to report" in a model trained for continuous streams, or None."""
        return self.metadata.background

    def _check_graph_matches_metadata(self) -> None:
        meta = self.metadata
        inputs = {i.name: i for i in self.session.get_inputs()}
        outputs = {o.name for o in self.session.get_outputs()}
        problems = []
        if "x" not in inputs:
            problems.append("graph has no input 'x'")
        elif inputs["x"].type != X_DTYPES[meta.input_kind]:
            problems.append(f"input 'x' is {inputs['x'].type}; input_kind {meta.input_kind!r} needs {X_DTYPES[meta.input_kind]}")
        if "logits" not in outputs:
            problems.append("graph has no output 'logits'")
        for spec in meta.state:
            if spec.name not in inputs or spec.output not in outputs:
                problems.append(f"state {spec.name!r}->{spec.output!r} is not an input/output pair of the graph")
        expected_kinds = ("features", "framed_features", "logmel") if meta.input_kind == "features" else ("token_ids", "text")
        primed = self.frontend.PRIMED_STATE if getattr(self.frontend, "in_graph", False) and self.frontend.kind == "logmel" else None
        if primed is not None and not any(s.name == primed and s.frontend for s in meta.state):
            problems.append(f"a graph that computes its own log-mel frames needs the front-end state {primed!r}")
        if self.frontend.kind not in expected_kinds:
            problems.append(f"frontend kind {self.frontend.kind!r} does not fit input_kind {meta.input_kind!r}")
        if problems:
            raise MetadataError(f"{self.path}: metadata does not match the graph: " + "; ".join(problems))

    def zero_state(self, batch: int) -> dict[str, np.ndarray]:
        """Fresh state for ``batch`` sequences: {state input name: float32 zeros}."""
        return {s.name: np.zeros(s.zeros_shape(batch), dtype=np.float32) for s in self.state_specs}

    def run(self, x: np.ndarray, state: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One graph call. x: float32 [batch, time, features] or int64 [batch, time] (front end applied).

        Returns logits float32 [batch, time, classes] and the state after the last step.
        """
        feeds = {"x": x, **state}
        outputs = self.session.run(["logits", *self._state_outputs], feeds)
        return outputs[0], {s.name: out for s, out in zip(self.state_specs, outputs[1:])}

    def prepare(self, sequence: Any, where: str = "input") -> np.ndarray:
        """Validate one raw sequence and apply the front end -> the graph's per-sequence x."""
        return self.frontend(self.frontend.check(sequence, where, self.allow_nonfinite))

    def predict(self, sequences: Sequence[Any], batch_size: int = 64) -> np.ndarray:
        """Class probabilities of whole sequences, each read at its own last step.

        sequences: list of float [time, features] arrays (or int token-id [time] arrays).
        Returns float32 [n, classes]. Sequences are grouped by length and padded at the end;
        padding cannot change a sequence's earlier steps, so the answer equals a solo run.
        """
        if batch_size < 1:
            raise InputError(f"batch_size must be >= 1, got {batch_size}")
        checked = [self.frontend.check(seq, f"sequence {i}", self.allow_nonfinite) for i, seq in enumerate(sequences)]
        prepared = [self.frontend(seq) for seq in checked]
        for i, seq in enumerate(prepared):
            if len(seq) == 0:
                raise InputError(f"sequence {i} is empty; predict needs at least one step")
        result = np.empty((len(prepared), len(self.labels)), dtype=np.float32)
        order = np.argsort([len(s) for s in prepared], kind="stable")
        for start in range(0, len(order), batch_size):
            idx = order[start:start + batch_size]
            x, lengths = pad_sequences([prepared[i] for i in idx])
            logits, _ = self.run(x, self.start_state([checked[i] for i in idx]))
            result[idx] = softmax(logits[np.arange(len(idx)), lengths - 1])
        return result

    def start_state(self, inputs: Sequence[Any]) -> dict[str, np.ndarray]:
        """The state whole checked inputs start from, stacked along each state's batch axis: zeros,
        but for a graph that computes its own audio frames the window overlap holds each
        recording's first samples (LogMelFrontend.initial_state)."""
        state = self.zero_state(len(inputs))
        initial = getattr(self.frontend, "initial_state", None)
        primed = [initial(seq) for seq in inputs] if initial is not None else []
        for spec in self.state_specs:
            if primed and spec.name in primed[0]:
                state[spec.name] = np.concatenate([p[spec.name] for p in primed], axis=spec.batch_axis)
        return state

    def stream(self, reset: "ResetPolicy | None" = None) -> "Stream":
        """A new stream with its own zero state; ``reset``: when it forgets its state by itself."""
        if reset is None or reset.inactive:
            return Stream(self)
        return PolicyStream(self, reset)

    def batch(self) -> "StreamBatch":
        """A holder of many independent streams advanced together (runtime/batch.py)."""
        from edgernn.runtime.batch import StreamBatch

        return StreamBatch(self)


class Stream:
    """One input stream: ``push`` chunks of any length; the state carries between pushes.

    Feeding a sequence chunk by chunk gives the same per-step probabilities as one call.

    The state lives in buffers on the model's device that are bound to the session through
    onnxruntime's IO binding, so on CUDA it never leaves the GPU between steps. A one-step push
    of float frames [1, features] (the always-on case) takes a fast path: the standardised frame
    is written straight into a bound input buffer and the session runs on a prepared binding,
    with no feed dictionary, input conversion or output allocation per call; that saves more
    than the input check and the softmax cost. Other chunks run through ``session.run``.

    Buffers: ``_buffers[k]`` = [state in, state out] of state tensor k. On the CPU one binding
    reads "in" and writes "out", and the new state is copied from "out" to "in" after each step
    (a few hundred bytes: far cheaper than switching bindings, which costs onnxruntime ~10 us
    per call: python -m timeit on a GRU-128 session). On CUDA two bindings alternate the roles,
    so the state stays on the device.
    """

    def __init__(self, model: Model):
        self.model = model
        self._session = model.session
        self._names = ["logits", *model._state_outputs]
        self._state_inputs = [s.name for s in model.state_specs]
        self._check = lambda chunk, where: model.frontend.check(chunk, where, model.allow_nonfinite)
        self._frontend = model.frontend.stream()  # audio: holds the samples of an unfinished frame (or hop)
        # an audio graph that computes its own frames starts from the stream's first samples
        self._take_initial_state = getattr(self._frontend, "take_initial_state", None)
        self._recurrent = [not s.frontend for s in model.state_specs]  # what reset_state zeroes
        self._classes = len(model.labels)
        self._on_cpu = model.device != "cuda"
        shapes = [s.zeros_shape(1) for s in model.state_specs]
        if self._on_cpu:  # numpy arrays whose memory the OrtValues share
            self._host = [[np.zeros(shape, np.float32) for _ in range(2)] for shape in shapes]
            self._buffers = [[ort.OrtValue.ortvalue_from_numpy(a) for a in pair] for pair in self._host]
        else:
            self._buffers = [[ort.OrtValue.ortvalue_from_shape_and_type(shape, np.float32, "cuda", 0) for _ in range(2)]
                             for shape in shapes]
        self._current = 0  # which buffer of each pair holds the state now
        # feature frames (sensor features, or an audio model's log-mel frames) can take the bound path
        self._step_bindings = self._bind_one_step() if model.metadata.input_kind == "features" else None
        self.reset()

    def _bind_one_step(self) -> list:
        """Runs of the bindings for one-step pushes: binding i reads state buffer i and writes 1 - i
        (CPU: only binding 0). Each is a no-argument callable."""
        features = self.model.frontend.features
        self._x = np.zeros((1, 1, features), dtype=np.float32)  # the bound input, written in place
        self._x_frame = self._x[0]  # [1, features]: the shape of a one-step chunk, so no broadcasting
        self._logits = np.zeros((1, 1, self._classes), dtype=np.float32)
        self._logits_frame = self._logits[0]
        self._ones = np.ones(self._classes, dtype=np.float32)  # the softmax's sum as one dot product
        # raw frames the stream standardises itself (the one-step fast path): feature models only
        raw_frames = self.model.frontend.kind == "features"
        self._frame_shape = (1, features) if raw_frames else None
        self._standardise = raw_frames and not self.model.frontend.in_graph  # else the graph standardises
        if raw_frames:
            self._mean = self.model.frontend.mean.reshape(1, features)
            self._inv_std = self.model.frontend.inverse_std.reshape(1, features)
        x_value = ort.OrtValue.ortvalue_from_numpy(self._x)  # host memory: copied to the device by the run
        logits_value = ort.OrtValue.ortvalue_from_numpy(self._logits)
        bindings = []
        for i in range(1 if self._on_cpu else 2):
            binding = self._session.io_binding()
            binding.bind_ortvalue_input("x", x_value)
            binding.bind_ortvalue_output("logits", logits_value)
            for name, output, buffers in zip(self._state_inputs, self._names[1:], self._buffers):
                binding.bind_ortvalue_input(name, buffers[i])
                binding.bind_ortvalue_output(output, buffers[1 - i])
            bindings.append(_direct_run(self._session, binding))
        return bindings

    def reset(self) -> None:
        """Forget everything: zero state, buffered samples, step counter 0."""
        self._zero_state(everything=True)
        self._frontend.reset()
        self.steps = 0

    def reset_state(self) -> None:
        """Zero the recurrent state only; the front end (an audio stream's buffered samples and
        running mean, whether kept here or as state of the graph) and the step counter go on."""
        self._zero_state(everything=False)

    def _zero_state(self, everything: bool) -> None:
        for buffers, recurrent in zip(self._buffers, self._recurrent):
            if everything or recurrent:
                for value in buffers:
                    value.update_inplace(np.zeros(value.shape(), dtype=np.float32))

    def _set_initial_state(self) -> None:
        """Write the front end's initial state (an audio stream's first samples), once it has
        it, into the state buffers the next step reads."""
        for name, value in self._take_initial_state().items():
            k = self._state_inputs.index(name)
            if self._on_cpu:
                _copyto(self._host[k][0], value)
            else:
                self._buffers[k][self._current].update_inplace(value)

    @property
    def state(self) -> dict[str, np.ndarray]:
        """Copies of the current state tensors, {name: float32 [.., 1, ..]}."""
        return {name: buffers[self._current].numpy().copy() for name, buffers in zip(self._state_inputs, self._buffers)}

    def push(self, chunk: Any) -> np.ndarray:
        """Advance by one chunk: float [steps, features], int ids [steps], for an audio model raw
        samples [n] of any size (the steps are the log-mel frames they complete), or for a text
        model a str piece of any size (the steps are the words it completes; ``flush`` ends the text).

        Returns float32 [steps, classes] probabilities after every step of the chunk. A chunk that
        completes no step (empty, or too few samples) returns an empty [0, classes] array.
        """
        if (self._step_bindings is not None and type(chunk) is np.ndarray and chunk.dtype is FLOAT32
                and chunk.shape == self._frame_shape and math.isfinite(_vdot(chunk, chunk))):
            return self._push_one_frame(chunk)
        x = self._frontend.push(self._check(chunk, "chunk"))
        if self._take_initial_state is not None:
            self._set_initial_state()
        return self._advance(x)

    def push_in_pieces(self, data: Any, piece: int) -> Iterator[np.ndarray]:
        """Push ``data`` (anything ``push`` takes, as a whole) ``piece`` elements at a time, then
        ``flush``: yields each call's float32 [steps, classes] probabilities."""
        if piece < 1:
            raise InputError(f"piece must be >= 1 element, got {piece}")
        for start in range(0, len(data), piece):
            yield self.push(data[start:start + piece])
        yield self.flush()

    def flush(self) -> np.ndarray:
        """End the input: run the steps the front end still holds back (a text stream's last
        word, which a following space or newline would otherwise complete). Returns float32
        [steps, classes] as ``push`` does; the state goes on."""
        flush = getattr(self._frontend, "flush", None)
        return self._advance(flush()) if flush is not None else np.empty((0, self._classes), dtype=np.float32)

    def _advance(self, x: np.ndarray) -> np.ndarray:
        """Run the graph over x (the front end's output [steps, ...]) from the carried state."""
        if len(x) == 0:
            return np.empty((0, self._classes), dtype=np.float32)
        if len(x) == 1 and self._step_bindings is not None:  # e.g. an audio hop completing one frame
            _copyto(self._x_frame, x)
            return self._run_bound_step()
        current = self._current
        if self._on_cpu:
            feeds = {"x": x[None], **{name: pair[0] for name, pair in zip(self._state_inputs, self._host)}}
        else:
            feeds = {"x": x[None], **{name: pair[current].numpy() for name, pair in zip(self._state_inputs, self._buffers)}}
        outputs = self._session.run(self._names, feeds)
        for k, value in enumerate(outputs[1:]):
            if self._on_cpu:
                _copyto(self._host[k][0], value)
            else:
                self._buffers[k][current].update_inplace(value)
        self.steps += len(x)
        return softmax(outputs[0][0])

    def _push_one_frame(self, frame: np.ndarray) -> np.ndarray:
        """frame: finite float32 [1, features] -> float32 [1, classes]. (The finiteness check
        cannot be left to the outputs: onnxruntime's activation kernels clamp NaN to a bound. It is
        the frame's dot product with itself, which any NaN or infinity makes non-finite: one BLAS
        call, half the cost of a reduction on this size. A frame so large that its squares overflow
        takes the general path, which checks it element by element.)"""
        if self._standardise:
            _subtract(frame, self._mean, out=self._x_frame)
            _multiply(self._x_frame, self._inv_std, out=self._x_frame)
        else:
            _copyto(self._x_frame, frame)
        return self._run_bound_step()

    def _run_bound_step(self) -> np.ndarray:
        """One step on the prepared binding from the frame already in the input buffer -> float32 [1, classes]."""
        self._step_bindings[0 if self._on_cpu else self._current]()
        # exp first, without subtracting the max, when the logits' squares sum below
        # EXP_SAFE_LOGIT ** 2 (one dot product): then every |logit| is below it, so no exp
        # overflows (nor warns) and the sum is at least exp(-EXP_SAFE_LOGIT); else softmax()
        logits = self._logits_frame
        if _vdot(logits, logits) < EXP_SAFE_SQUARED:
            probs = _exp(logits)
            _multiply(probs, 1.0 / float(_vdot(probs, self._ones)), out=probs)
        else:
            probs = softmax(logits)
        if self._on_cpu:
            for state_in, state_out in self._host:
                _copyto(state_in, state_out)
        else:
            self._current = 1 - self._current
        self.steps += 1
        return probs


@dataclass(frozen=True)
class ResetPolicy:
    """When a stream zeroes its recurrent state by itself (its front end goes on).

    every_steps: after the push that brings the steps since the last reset to at least this many.
    idle_seconds: before a push that comes this long (wall clock) after the previous one.
    silence_seconds, silence_rms: audio models only: after pushes whose samples have stayed below
    ``silence_rms`` (root mean square, full scale 1.0) for this long in a row.
    background_steps: models with a background class only: after the push in which the top class
    has been the background for this many steps in a row, once per such run. The model says when
    a word is over, whatever the microphone's noise floor, and the next word then starts from a
    fresh state, as in training. Once, not again every that many steps: a model says background
    through a word's first steps too (it cannot tell the word yet), and a second reset there
    would cut the word's start off. Off by default everywhere (`edgernn stream`, the server,
    calibration): on FSDD continuous digits one model heard 50% of the recordings exactly with a
    reset every 0.2 s of background, 69% with one per run and 73% with none (docs/streams.md).
    A model whose state drifts on streams much longer than its training sequences (see the
    ``horizon_steps`` in the fp32 file's parity metadata) should be reset within that many steps.
    """

    every_steps: int | None = None
    idle_seconds: float | None = None
    silence_seconds: float | None = None
    silence_rms: float = 0.01
    background_steps: int | None = None

    def __post_init__(self) -> None:
        bad = [f"{name}={value!r}" for name, value in (("every_steps", self.every_steps), ("idle_seconds", self.idle_seconds),
                                                        ("silence_seconds", self.silence_seconds),
                                                        ("background_steps", self.background_steps))
               if value is not None and not value > 0]
        if bad or not self.silence_rms > 0:
            raise InputError(f"reset policy: every value must be > 0 (or None to leave it out); got {bad or [self.silence_rms]}")

    @property
    def inactive(self) -> bool:
        return (self.every_steps is None and self.idle_seconds is None and self.silence_seconds is None
                and self.background_steps is None)


class PolicyStream(Stream):
    """A Stream that applies a ResetPolicy around every push; ``resets`` counts the resets it made."""

    def __init__(self, model: Model, policy: ResetPolicy):
        if policy.silence_seconds is not None and model.frontend.kind != "logmel":
            raise InputError("reset policy: silence_seconds needs an audio model (raw samples); "
                             f"this one takes {model.frontend.kind}")
        if policy.background_steps is not None and model.background is None:
            raise InputError("reset policy: background_steps needs a model trained with a background class "
                             f"(edgernn train --background LABEL); {model.path.name} has none")
        self._background = model.labels.index(model.background) if model.background is not None else -1
        self.policy = policy
        self.resets = 0
        super().__init__(model)

    def reset(self) -> None:
        super().reset()
        self._since_reset, self._silent_samples, self._last_push, self._background_run = 0, 0, None, 0

    def _policy_reset(self) -> None:
        self.reset_state()
        self._since_reset, self._silent_samples, self._background_run = 0, 0, 0
        self.resets += 1

    def push(self, chunk: Any) -> np.ndarray:
        policy, now = self.policy, time.monotonic()
        if policy.idle_seconds is not None and self._last_push is not None and now - self._last_push >= policy.idle_seconds:
            self._policy_reset()
        self._last_push = now
        before = self.steps
        probs = super().push(chunk)
        self._since_reset += self.steps - before
        if policy.every_steps is not None and self._since_reset >= policy.every_steps:
            self._policy_reset()
        if policy.silence_seconds is not None:
            samples = self._check(chunk, "chunk")
            quiet = len(samples) and float(np.sqrt(np.mean(np.square(samples, dtype=np.float64)))) < policy.silence_rms
            self._silent_samples = self._silent_samples + len(samples) if quiet else 0
            if self._silent_samples >= policy.silence_seconds * self.model.frontend.config.sample_rate:
                self._policy_reset()
        if policy.background_steps is not None and len(probs):
            run, due = background_run(probs.argmax(axis=1) == self._background, self._background_run, policy.background_steps)
            if due:
                self._policy_reset()
            self._background_run = run
        return probs


def trailing_run(flags: np.ndarray, before: int) -> int:
    """Length of the run of True at the end of ``before`` True steps followed by ``flags`` (bool [steps])."""
    false = np.flatnonzero(~flags)
    return before + len(flags) if len(false) == 0 else len(flags) - 1 - int(false[-1])


def background_run(is_background: np.ndarray, before: int, reset_at: int) -> tuple[int, bool]:
    """The background-reset rule (``ResetPolicy.background_steps``) for one push: ``before``
    background answers in a row, then ``is_background`` (bool [steps]) -> (the run at the push's
    end, whether the state is due for its reset: the run reached ``reset_at`` within this push,
    so once per run)."""
    run = trailing_run(is_background, before)
    reached_before = before if run == before + len(is_background) else 0  # 0: the run began in this push
    return run, reached_before < reset_at <= run


def _direct_run(session: ort.InferenceSession, binding: ort.IOBinding) -> Callable[[], None]:
    """A no-argument call that runs ``session`` on ``binding``.

    It calls onnxruntime's compiled session directly when this onnxruntime exposes it (``_sess``,
    ``_iobinding``): the public ``run_with_iobinding`` wrapper checks WebGPU graph capture on every
    call, ~3 us a step (`edgernn bench`'s push against bare session.run, before and after), a
    tenth of a GRU-128 step. Otherwise, the public call.
    """
    compiled_run = getattr(getattr(session, "_sess", None), "run_with_iobinding", None)
    compiled_binding = getattr(binding, "_iobinding", None)
    if compiled_run is None or compiled_binding is None:
        return partial(session.run_with_iobinding, binding)
    return partial(compiled_run, compiled_binding, None)


# ufuncs called directly: on one-step arrays numpy's method wrappers (.max(), .sum()) and
# broadcasting cost more than the arithmetic; a dot product sums a short vector faster than
# a reduction (python -m timeit on 12 float32s: add.reduce ~2.5 us, vdot ~1 us)
FLOAT32 = np.dtype(np.float32)
_subtract, _multiply, _exp, _copyto, _vdot = np.subtract, np.multiply, np.exp, np.copyto, np.vdot
