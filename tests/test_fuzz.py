"""Property-based tests: arbitrary input never crashes a parser or validator, and never raises
anything but the documented error types."""

from __future__ import annotations

import struct

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from edgernn.runtime.datasets import read_npz, read_ts
from edgernn.runtime.errors import DataFormatError, InputError, InputTypeError, MetadataError
from edgernn.runtime.frontend import FeatureFrontend, TokenFrontend, frontend_from_json
from edgernn.runtime.metadata import PREFIX, REQUIRED_KEYS, GraphMetadata
from edgernn.runtime.wav import read_wav

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

TS_TOKENS = st.sampled_from(["@data", "@dimensions 2", "@classLabel true a b", "@classLabel false", "@equalLength false",
                             "1,2:3,4:a", "1:2:b", "1,2,3:4:a", "?,1:2,3:a", "x:y:a", "1e400:1:a", "#c", "", ":", ",", "@"])


@FUZZ
@given(st.lists(st.one_of(TS_TOKENS, st.text(max_size=30)), max_size=12))
def test_ts_parser_raises_only_data_format_errors(tmp_path_factory, lines):
    path = tmp_path_factory.mktemp("ts") / "f.ts"
    path.write_text("\n".join(lines), encoding="utf-8")
    try:
        data = read_ts(path)
    except DataFormatError:
        return
    assert len(data) >= 1 and all(s.dtype == np.float32 and s.ndim == 2 and len(s) >= 1 for s in data.sequences)
    assert all(np.isfinite(s).all() for s in data.sequences)


@FUZZ
@given(st.binary(max_size=400))
def test_npz_reader_raises_only_data_format_errors_on_arbitrary_bytes(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("npz") / "f.npz"
    path.write_bytes(blob)
    try:
        read_npz(path)
    except DataFormatError:
        pass


@FUZZ
@given(st.dictionaries(st.sampled_from([*REQUIRED_KEYS, "features", "vocab_size", "runtime", "footprint"]),
                       st.one_of(st.text(max_size=20), st.sampled_from(["1", "0", "[]", "{}", '["a"]', "null", "-3", "gru"])),
                       max_size=16))
def test_metadata_parser_raises_only_metadata_errors(props):
    try:
        meta = GraphMetadata.from_props({PREFIX + k: v for k, v in props.items()})
    except MetadataError:
        return
    assert meta.layers >= 1 and meta.hidden >= 1 and meta.labels and meta.state


@FUZZ
@given(st.one_of(
    hnp.arrays(st.sampled_from([np.float32, np.float64, np.int64, np.bool_, np.float16]),
               hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=5),
               ),
    st.lists(st.floats(allow_nan=True), max_size=5), st.text(max_size=5), st.none()))
def test_feature_check_raises_only_input_errors(value):
    front = FeatureFrontend(np.zeros(3, np.float32), np.ones(3, np.float32))
    try:
        out = front.check(value)
    except (InputError, InputTypeError):
        return
    assert out.dtype == np.float32 and out.ndim == 2 and out.shape[1] == 3 and np.isfinite(out).all()


@FUZZ
@given(st.one_of(hnp.arrays(st.sampled_from([np.int8, np.int64, np.uint32, np.float32]),
                            hnp.array_shapes(min_dims=0, max_dims=2, min_side=0, max_side=6)),
                 st.lists(st.integers(min_value=-2**70, max_value=2**70), max_size=5)))
def test_token_check_raises_only_input_errors(value):
    try:
        out = TokenFrontend(10).check(value)
    except (InputError, InputTypeError):
        return
    assert out.dtype == np.int64 and out.ndim == 1 and (out.size == 0 or (out.min() >= 0 and out.max() < 10))


@FUZZ
@given(st.dictionaries(st.sampled_from(["kind", "features", "mean", "std", "vocab_size"]),
                       st.one_of(st.sampled_from(["features", "token_ids"]), st.integers(-3, 5),
                                 st.lists(st.floats(allow_nan=True, allow_infinity=True), max_size=4), st.text(max_size=4)),
                       max_size=5))
def test_frontend_metadata_raises_only_metadata_errors(spec):
    try:
        frontend_from_json(spec)
    except MetadataError:
        pass


def _wav_header(channels: int, rate: int, width: int, frames: int, fmt: int = 1) -> bytes:
    data_bytes = frames * channels * width
    fmt_chunk = struct.pack("<HHIIHH", fmt, channels, rate, rate * channels * width, channels * width, 8 * width)
    return (b"RIFF" + struct.pack("<I", 36 + data_bytes) + b"WAVE" + b"fmt " + struct.pack("<I", 16) + fmt_chunk
            + b"data" + struct.pack("<I", data_bytes))


@FUZZ
@given(st.one_of(
    st.binary(max_size=300),  # arbitrary bytes
    st.builds(lambda ch, rate, width, frames, fmt, body: _wav_header(ch, rate, width, frames, fmt) + body,
              st.integers(0, 3), st.integers(0, 50000), st.integers(0, 5), st.integers(0, 100),
              st.sampled_from([1, 3, 0xFFFE, 7]), st.binary(max_size=200)),  # plausible headers, odd bodies
))
def test_wav_reader_raises_only_data_format_errors(tmp_path_factory, blob):
    path = tmp_path_factory.mktemp("wav") / "f.wav"
    path.write_bytes(blob)
    try:
        samples, rate = read_wav(path)
    except DataFormatError:
        return
    assert samples.dtype == np.float32 and samples.ndim == 1 and rate >= 1
    assert np.isfinite(samples).all() and (np.abs(samples) <= 1.0).all()
