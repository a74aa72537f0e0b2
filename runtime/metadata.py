"""The metadata an edgernn graph carries in its ONNX ``metadata_props``.

Every key is prefixed ``edgernn.``; values are strings (integers as decimal text, structures as
JSON). The export writes it with ``GraphMetadata.to_props()``; the runtime reads it back with
``GraphMetadata.from_props()``, which names the first missing or malformed key it meets.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from edgernn.runtime.errors import MetadataError

PREFIX = "edgernn."
# 2: a feature graph standardises its own input (frontend "standardised_in_graph");
# 3: an audio graph computes its own log-mel frames from samples (frontend "in_graph", front-end state)
SCHEMA_VERSION = 3
CELLS = ("rnn", "lstm", "gru")
INPUT_KINDS = ("features", "tokens")
PRECISIONS = ("fp32", "int8-dynamic", "int8-static", "fp16")
OPTIMIZATION_LEVELS = ("disabled", "basic", "extended", "all")  # onnxruntime graph optimisation levels

REQUIRED_KEYS = (
    "schema_version", "cell", "layers", "hidden", "input_kind", "labels", "frontend",
    "precision", "state", "parity", "source", "producer",
)


@dataclass(frozen=True)
class StateSpec:
    """One state tensor: graph input ``name`` is fed back from output ``output``.

    shape: e.g. [layers, "batch", hidden]; the string marks the batch axis.
    frontend: the state belongs to the front end computed in the graph (an audio graph's window
    overlap and running mean), not to the recurrent layers: zeroing the recurrent state leaves it.
    """

    name: str
    output: str
    shape: tuple
    batch_axis: int
    frontend: bool = False

    def zeros_shape(self, batch: int) -> tuple[int, ...]:
        return tuple(batch if i == self.batch_axis else int(d) for i, d in enumerate(self.shape))

    def to_json(self) -> dict:
        return {"input": self.name, "output": self.output, "shape": list(self.shape), "batch_axis": self.batch_axis,
                **({"frontend": True} if self.frontend else {})}


@dataclass
class GraphMetadata:
    """The decoded ``edgernn.*`` keys of one graph."""

    cell: str
    layers: int
    hidden: int
    input_kind: str
    labels: list[str]
    frontend: dict
    precision: str
    state: list[StateSpec]
    features: int | None = None
    vocab_size: int | None = None
    parity: dict = field(default_factory=dict)
    source: str = ""
    producer: dict = field(default_factory=dict)
    # Optional: how to run the file. {"session_config": {onnxruntime session config entries},
    # "quantization": {what was quantized and how}, "graph_optimization_level": name}; e.g. fp16
    # files ask for basic optimisation (onnxruntime 1.32 crashes on them at the default level).
    runtime: dict = field(default_factory=dict)
    # Optional: op counts, weight storage, multiply-accumulates per step, state bytes per stream.
    footprint: dict = field(default_factory=dict)
    # Optional: the label of the class that means "nothing to report" (silence, noise, speech
    # that is no keyword) in a model trained for continuous streams; detection ignores it.
    background: str | None = None
    # Optional: what the model was trained and checked on: {"name", "train", "test", "classes",
    # "test_split"}, test_split "given" or {"fraction", "seed"} when edgernn held it out.
    dataset: dict = field(default_factory=dict)
    # Optional: the detector's calibrated operating point for continuous streams (runtime/calibration.py):
    # {"window", "min_steps", "refractory", "hold", "thresholds": {label: probability}} plus what it was
    # chosen for and measured at ("target_false_alarms_per_hour", "validation", ...).
    detector: dict = field(default_factory=dict)
    schema_version: int = SCHEMA_VERSION

    def to_props(self) -> dict[str, str]:
        """Encode as ``{"edgernn.<key>": str}``."""
        props: dict[str, Any] = {
            "schema_version": self.schema_version,
            "cell": self.cell,
            "layers": self.layers,
            "hidden": self.hidden,
            "input_kind": self.input_kind,
            "labels": json.dumps(self.labels),
            "frontend": json.dumps(self.frontend),
            "precision": self.precision,
            "state": json.dumps([s.to_json() for s in self.state]),
            "parity": json.dumps(self.parity),
            "source": self.source,
            "producer": json.dumps(self.producer),
        }
        if self.runtime:
            props["runtime"] = json.dumps(self.runtime)
        if self.footprint:
            props["footprint"] = json.dumps(self.footprint)
        if self.background is not None:
            props["background"] = self.background
        if self.dataset:
            props["dataset"] = json.dumps(self.dataset)
        if self.detector:
            props["detector"] = json.dumps(self.detector)
        if self.input_kind == "features":
            props["features"] = self.features
        else:
            props["vocab_size"] = self.vocab_size
        return {PREFIX + key: str(value) for key, value in props.items()}

    @classmethod
    def from_props(cls, props: dict[str, str]) -> "GraphMetadata":
        """Decode and validate; raises MetadataError naming the offending key."""
        own = {key[len(PREFIX):]: value for key, value in props.items() if key.startswith(PREFIX)}
        if not own:
            raise MetadataError(
                "the file has no edgernn metadata (no 'edgernn.*' keys); export it with `edgernn export`"
            )
        missing = [key for key in REQUIRED_KEYS if key not in own]
        if missing:
            raise MetadataError(f"metadata keys missing: {', '.join(PREFIX + k for k in missing)}")
        version = _int(own, "schema_version", minimum=1)
        if version > SCHEMA_VERSION:
            raise MetadataError(
                f"{PREFIX}schema_version is {version}; this edgernn reads versions up to {SCHEMA_VERSION}: upgrade edgernn"
            )
        input_kind = _choice(own, "input_kind", INPUT_KINDS)
        size_key = "features" if input_kind == "features" else "vocab_size"
        if size_key not in own:
            raise MetadataError(f"metadata key missing: {PREFIX}{size_key} (required for input_kind {input_kind!r})")
        labels = _json(own, "labels", list)
        if not labels or not all(isinstance(v, str) for v in labels) or len(set(labels)) != len(labels):
            raise MetadataError(f"{PREFIX}labels must be a JSON list of distinct strings, at least one")
        background = own.get("background")
        if background is not None and background not in labels:
            raise MetadataError(f"{PREFIX}background must be one of the labels {labels}, got {background[:40]!r}")
        return cls(
            schema_version=version,
            cell=_choice(own, "cell", CELLS),
            layers=_int(own, "layers", minimum=1),
            hidden=_int(own, "hidden", minimum=1),
            input_kind=input_kind,
            features=_int(own, "features", minimum=1) if size_key == "features" else None,
            vocab_size=_int(own, "vocab_size", minimum=1) if size_key == "vocab_size" else None,
            labels=labels,
            frontend=_json(own, "frontend", dict),
            precision=_choice(own, "precision", PRECISIONS),
            state=_states(own),
            parity=_json(own, "parity", dict),
            source=own["source"],
            producer=_json(own, "producer", dict),
            runtime=_runtime(own),
            footprint=_json(own, "footprint", dict) if "footprint" in own else {},
            background=background,
            dataset=_json(own, "dataset", dict) if "dataset" in own else {},
            detector=_detector(own, labels) if "detector" in own else {},
        )


def _int(own: dict[str, str], key: str, minimum: int) -> int:
    text = own[key]
    if not text.strip().isdigit() or int(text) < minimum:
        raise MetadataError(f"{PREFIX}{key} must be an integer >= {minimum}, got {text[:40]!r}")
    return int(text)


def _choice(own: dict[str, str], key: str, valid: tuple[str, ...]) -> str:
    value = own[key]
    if value not in valid:
        raise MetadataError(f"{PREFIX}{key} must be one of {list(valid)}, got {value[:40]!r}")
    return value


def _json(own: dict[str, str], key: str, kind: type) -> Any:
    try:
        value = json.loads(own[key])
    except json.JSONDecodeError as exc:
        raise MetadataError(f"{PREFIX}{key} is not valid JSON ({exc.msg})") from None
    if not isinstance(value, kind):
        raise MetadataError(f"{PREFIX}{key} must be a JSON {'object' if kind is dict else 'list'}")
    return value


def _detector(own: dict[str, str], labels: list[str]) -> dict:
    """The calibrated operating point: window >= 1, min_steps >= 1, refractory >= 0, hold >= 0
    (integers; hold may be absent: graphs calibrated before it) and thresholds in (0, 1] for
    labels of the model."""
    detector = _json(own, "detector", dict)
    counts = {"window": 1, "min_steps": 1, "refractory": 0, "hold": 0}
    thresholds = detector.get("thresholds")
    given = {"hold": 0, **detector}  # graphs calibrated before the hold have none
    bad = [key for key, least in counts.items() if not (isinstance(given.get(key), int) and given[key] >= least)]
    if not isinstance(thresholds, dict) or not all(
            label in labels and isinstance(p, (int, float)) and 0 < p <= 1 for label, p in thresholds.items()):
        bad.append("thresholds")
    if bad:
        raise MetadataError(f"{PREFIX}detector needs integers window >= 1, min_steps >= 1, refractory >= 0, hold >= 0 and "
                            f"thresholds {{label: probability in (0, 1]}} for labels of {labels}; bad: {', '.join(bad)}")
    return detector


def _runtime(own: dict[str, str]) -> dict:
    if "runtime" not in own:
        return {}
    runtime = _json(own, "runtime", dict)
    level = runtime.get("graph_optimization_level", "all")
    if level not in OPTIMIZATION_LEVELS:
        raise MetadataError(f"{PREFIX}runtime.graph_optimization_level must be one of "
                            f"{list(OPTIMIZATION_LEVELS)}, got {level!r}")
    config = runtime.get("session_config", {})
    if not isinstance(config, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in config.items()):
        raise MetadataError(f"{PREFIX}runtime.session_config must map strings to strings")
    return runtime


def _states(own: dict[str, str]) -> list[StateSpec]:
    specs = []
    for item in _json(own, "state", list):
        try:
            shape = tuple(item["shape"])
            axis = int(item["batch_axis"])
            spec = StateSpec(str(item["input"]), str(item["output"]), shape, axis, item.get("frontend", False))
            # a front end's state may be empty: no window overlap when the hop is the whole window
            least = 0 if spec.frontend is True else 1
            ok = isinstance(spec.frontend, bool) and 0 <= axis < len(shape) and all(
                isinstance(d, int) and d >= least for i, d in enumerate(shape) if i != axis
            )
        except (KeyError, TypeError, ValueError):
            ok = False
        if not ok:
            raise MetadataError(
                f"{PREFIX}state entries need 'input', 'output', 'shape' (positive ints, one batch axis; a front end's "
                "state may have size 0) and 'batch_axis' (and optionally 'frontend': true or false)"
            )
        specs.append(spec)
    if not specs:
        raise MetadataError(f"{PREFIX}state lists no state; a recurrent graph has at least one")
    return specs


def baseline_warnings(accuracy: float, measured: dict) -> list[str]:
    """One sentence per baseline that the model's test accuracy does not beat."""
    warnings = []
    majority, linear = measured.get("majority"), measured.get("linear")
    if majority and accuracy <= majority["accuracy"]:
        warnings.append(f"the model's test accuracy {accuracy:.4f} does not beat always answering "
                        f"{majority['label']!r} ({majority['accuracy']:.4f}): it has not learned from this data")
    if linear and accuracy <= linear["accuracy"]:
        warnings.append(f"the model's test accuracy {accuracy:.4f} does not beat a {linear['model']} "
                        f"({linear['accuracy']:.4f}) on the same split")
    return warnings


def baselines_line(measured: dict, where: str = "on the same split") -> str:
    """One line: the baselines' test accuracies, {"majority": {"label", "accuracy"}, "linear":
    {"model", "accuracy"}} as trainer/baselines.py measures them and ``dataset`` metadata keeps them."""
    majority, linear = measured["majority"], measured["linear"]
    return (f"baselines {where}: always {majority['label']!r} {majority['accuracy']:.4f}; "
            f"{linear['model']} {linear['accuracy']:.4f}")
