"""Front ends: fitting, applying and validating inputs (runtime/frontend.py)."""

from __future__ import annotations

import numpy as np
import pytest

from edgernn.runtime.errors import InputError, InputTypeError, MetadataError
from edgernn.runtime.frontend import FeatureFrontend, FramedFrontend, TokenFrontend, frontend_from_json


def test_fit_standardises_every_channel_over_all_frames():
    rng = np.random.default_rng(0)
    seqs = [rng.normal(5, 3, size=(n, 4)).astype(np.float32) for n in (3, 10, 7)]
    seqs[0][:, 3] = 2.0  # a constant channel keeps std 1
    for s in seqs[1:]:
        s[:, 3] = 2.0
    front = FeatureFrontend.fit(seqs)
    out = np.concatenate([front(s) for s in seqs])
    np.testing.assert_allclose(out[:, :3].mean(axis=0), 0, atol=1e-5)
    np.testing.assert_allclose(out[:, :3].std(axis=0), 1, atol=1e-5)
    assert front.std[3] == 1.0 and np.all(out[:, 3] == 0)


def test_json_roundtrip_is_exact():
    front = FeatureFrontend(np.array([0.1, -2.5], np.float32), np.array([1.5, 0.25], np.float32))
    again = frontend_from_json(front.to_json())
    np.testing.assert_array_equal(again.mean, front.mean)
    np.testing.assert_array_equal(again.std, front.std)
    assert frontend_from_json(TokenFrontend(50).to_json()).vocab_size == 50


@pytest.mark.parametrize("value, error, message", [
    (np.zeros((3, 2), np.int64), InputTypeError, "expected float feature frames"),
    (np.zeros((3, 5), np.float32), InputError, r"expected shape \[time, 2\], got \[3, 5\]"),
    (np.zeros(3, np.float32), InputError, r"expected shape \[time, 2\], got \[3\]"),
    ("text", InputTypeError, "got str"),
    ([[1.0, 2.0], [3.0]], InputTypeError, "the list is ragged or holds non-numbers"),
])
def test_feature_check_refuses_bad_input(value, error, message):
    with pytest.raises(error, match=message):
        FeatureFrontend(np.zeros(2, np.float32), np.ones(2, np.float32)).check(value)


def test_nan_is_refused_naming_the_position_unless_allowed():
    front = FeatureFrontend(np.zeros(2, np.float32), np.ones(2, np.float32))
    x = np.zeros((4, 2), np.float64)
    x[2, 1] = np.inf
    with pytest.raises(InputError, match="NaN/Inf at step 2, feature 1"):
        front.check(x)
    assert front.check(x, allow_nonfinite=True).dtype == np.float32


def test_token_ids_are_range_checked():
    front = TokenFrontend(10)
    assert front.check([1, 2, 9]).dtype == np.int64
    with pytest.raises(InputError, match=r"token id 10 at step 1 is outside \[0, 10\)"):
        front.check(np.array([3, 10]))
    with pytest.raises(InputTypeError, match="integer token ids"):
        front.check(np.array([1.0, 2.0]))


@pytest.mark.parametrize("spec, message", [
    ({"kind": "mel"}, "unknown kind 'mel'"),
    ({"kind": "features", "features": 2, "mean": [0.0], "std": [1.0]}, "lists of length 'features'"),
    ({"kind": "features", "features": 1, "mean": [0.0], "std": [0.0]}, "'std' finite and > 0"),
    ({"kind": "features", "features": 1, "std": [1.0]}, "malformed 'features' front end"),
    ({"kind": "framed_features", "features": 2, "frame": 1, "raw_features": 2, "mean": [0, 0], "std": [1, 1]},
     "'frame' must be an integer >= 2"),
    ({"kind": "framed_features", "features": 5, "frame": 2, "raw_features": 2, "mean": [0, 0], "std": [1, 1]},
     "'features' 5 must be 'frame' x 'raw_features' = 4"),
    ({"kind": "framed_features", "features": 4, "frame": 2, "mean": [0, 0], "std": [1, 1]},
     "malformed 'framed_features' front end"),
    ({"kind": "features", "features": 1, "mean": [0.0], "std": [1.0], "standardised_in_graph": "yes"},
     "'standardised_in_graph' must be true or false, got 'yes'"),
    ({"kind": "logmel", "features": 1, "mean": [0.0], "std": [1.0], "standardised_in_graph": True,
      "logmel": {"sample_rate": 16000}}, "'standardised_in_graph' applies to feature front ends only"),
    ([1, 2], "JSON object with a 'kind'"),
])
def test_malformed_frontend_metadata(spec, message):
    with pytest.raises(MetadataError, match=message):
        frontend_from_json(spec)


def framed(frame: int = 3) -> FramedFrontend:
    return FramedFrontend(FeatureFrontend(np.array([1.0, -2.0], np.float32), np.array([2.0, 0.5], np.float32)), frame)


def test_framing_stacks_standardised_steps_in_time_order_and_leaves_an_unfinished_frame_unread():
    front = framed(3)
    x = np.arange(16, dtype=np.float32).reshape(8, 2)
    got = front(x)
    standard = (x - front.norm.mean) / front.norm.std
    assert got.shape == (2, 6) and front.features == 6 and front.step_length == 3
    np.testing.assert_array_equal(got[0], standard[0:3].reshape(-1))  # steps 0, 1, 2, each step's features together
    np.testing.assert_array_equal(got[1], standard[3:6].reshape(-1))  # steps 6 and 7 complete no frame
    assert front(x[:2]).shape == (0, 6)


@pytest.mark.parametrize("seed", range(5))
def test_a_framing_stream_in_any_pieces_equals_the_whole_input(seed):
    rng = np.random.default_rng(seed)
    front = framed(int(rng.integers(2, 6)))
    x = rng.standard_normal((int(rng.integers(0, 60)), 2)).astype(np.float32)
    stream = front.stream()
    cuts = np.sort(rng.integers(0, len(x) + 1, size=int(rng.integers(0, 8))))
    pieces = [stream.push(piece) for piece in np.split(x, cuts)]
    np.testing.assert_array_equal(np.concatenate(pieces), front(x))
    stream.reset()
    np.testing.assert_array_equal(stream.push(x), front(x))  # nothing waiting after a reset


def test_framing_checks_raw_steps_and_roundtrips_through_json():
    front = framed(4)
    with pytest.raises(InputError, match=r"expected shape \[time, 2\], got \[3, 8\]"):
        front.check(np.zeros((3, 8), np.float32))  # a frame's worth of features is not a raw step
    again = frontend_from_json(front.to_json())
    assert isinstance(again, FramedFrontend) and again.frame == 4 and again.features == 8
    np.testing.assert_array_equal(again.norm.std, front.norm.std)
