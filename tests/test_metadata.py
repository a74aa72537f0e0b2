"""Graph metadata encoding and validation (runtime/metadata.py)."""

from __future__ import annotations

import json

import pytest

from edgernn.runtime.errors import MetadataError
from edgernn.runtime.metadata import PREFIX, GraphMetadata, StateSpec


def example() -> GraphMetadata:
    return GraphMetadata(
        cell="lstm", layers=2, hidden=8, input_kind="features", features=3, labels=["yes", "no"],
        frontend={"kind": "features", "features": 3, "mean": [0, 0, 0], "std": [1, 1, 1]}, precision="fp32",
        state=[StateSpec("h", "h_out", (2, "batch", 8), 1), StateSpec("c", "c_out", (2, "batch", 8), 1)],
        parity={"passed": True}, source="ab" * 32, producer={"edgernn": "0.1.0"},
    )


def test_roundtrip_and_prefix():
    props = example().to_props()
    assert all(k.startswith(PREFIX) for k in props) and props["edgernn.features"] == "3"
    back = GraphMetadata.from_props(props)
    assert back == example()
    assert back.state[1].zeros_shape(5) == (2, 5, 8)


def test_no_edgernn_keys():
    with pytest.raises(MetadataError, match="no edgernn metadata"):
        GraphMetadata.from_props({"other": "1"})


@pytest.mark.parametrize("key", ["cell", "labels", "state", "schema_version", "features"])
def test_missing_key_is_named(key):
    props = example().to_props()
    del props[PREFIX + key]
    with pytest.raises(MetadataError, match=f"{PREFIX}{key}"):
        GraphMetadata.from_props(props)


@pytest.mark.parametrize("key, value, message", [
    ("schema_version", "4", "schema_version is 4; this edgernn reads versions up to 3"),
    ("schema_version", "one", "schema_version must be an integer"),
    ("cell", "transformer", r"cell must be one of \['rnn', 'lstm', 'gru'\]"),
    ("labels", "[1, 2]", "labels must be a JSON list of distinct strings"),
    ("labels", "[", "labels is not valid JSON"),
    ("hidden", "0", "hidden must be an integer >= 1"),
    ("precision", "int4", "precision must be one of"),
    ("state", json.dumps([{"input": "h"}]), "state entries need"),
    ("state", "[]", "state lists no state"),
    ("frontend", "[]", "frontend must be a JSON object"),
])
def test_malformed_values_are_named(key, value, message):
    props = example().to_props()
    props[PREFIX + key] = value
    with pytest.raises(MetadataError, match=message):
        GraphMetadata.from_props(props)


def test_optional_runtime_key_roundtrips_and_is_validated():
    meta = example()
    meta.runtime = {"session_config": {"session.disable_quant_qdq": "1"}, "quantization": {"method": "weight-only-int8"}}
    props = meta.to_props()
    assert GraphMetadata.from_props(props).runtime == meta.runtime
    assert PREFIX + "runtime" not in example().to_props()  # absent when there is nothing to say
    props[PREFIX + "runtime"] = json.dumps({"session_config": {"threads": 2}})
    with pytest.raises(MetadataError, match="runtime.session_config must map strings to strings"):
        GraphMetadata.from_props(props)


def test_only_a_front_end_state_may_be_empty():
    meta = GraphMetadata(cell="gru", layers=1, hidden=4, input_kind="features", labels=["a", "b"], frontend={}, precision="fp32",
                         state=[StateSpec("h", "h_out", (1, "batch", 4), 1),
                                StateSpec("audio", "audio_out", ("batch", 0), 0, frontend=True)],
                         features=80)
    assert GraphMetadata.from_props(meta.to_props()).state[1].zeros_shape(2) == (2, 0)
    meta.state[1] = StateSpec("audio", "audio_out", ("batch", 0), 0)
    with pytest.raises(MetadataError, match="a front end's state may have size 0"):
        GraphMetadata.from_props(meta.to_props())
