"""The recurrent classifier (trainer/network.py): streaming equals whole-sequence, padding is inert."""

from __future__ import annotations

import pytest
import torch

from edgernn.runtime.errors import InputError
from edgernn.trainer.network import ModelConfig, RecurrentClassifier, last_step

CASES = [("rnn", 1), ("gru", 2), ("lstm", 3)]


def make(cell: str, layers: int, **kw) -> RecurrentClassifier:
    torch.manual_seed(0)
    return RecurrentClassifier(ModelConfig(cell=cell, features=5, hidden=16, layers=layers, classes=4, **kw)).eval()


@pytest.mark.parametrize("cell, layers", CASES)
def test_step_by_step_state_carry_matches_whole_sequence_at_every_step(cell, layers):
    model = make(cell, layers, dropout=0.3)
    x = torch.randn(2, 40, 5)
    with torch.inference_mode():
        whole, whole_state = model(x)
        state = None
        for t in range(x.shape[1]):
            step, state = model(x[:, t:t + 1], state)
            torch.testing.assert_close(step[:, 0], whole[:, t], atol=1e-6, rtol=0)
    for a, b in zip(state, whole_state):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0)
    assert len(state) == (2 if cell == "lstm" else 1) and state[0].shape == (layers, 2, 16)


@pytest.mark.parametrize("cell, layers", CASES)
def test_padding_after_a_sequence_does_not_change_its_answer(cell, layers):
    model = make(cell, layers)
    short, long = torch.randn(1, 6, 5), torch.randn(1, 11, 5)
    padded = torch.zeros(2, 11, 5)
    padded[0, :6], padded[1] = short[0], long[0]
    with torch.inference_mode():
        batch = last_step(model(padded)[0], torch.tensor([6, 11]))
        torch.testing.assert_close(batch[0], model(short)[0][0, -1], atol=1e-6, rtol=0)
        torch.testing.assert_close(batch[1], model(long)[0][0, -1], atol=1e-6, rtol=0)


def test_token_inputs_go_through_an_embedding():
    torch.manual_seed(0)
    model = RecurrentClassifier(ModelConfig(cell="gru", input_kind="tokens", vocab_size=30, embed_dim=8, hidden=12, classes=3))
    logits, (h,) = model(torch.randint(0, 30, (4, 9)))
    assert logits.shape == (4, 9, 3) and h.shape == (1, 4, 12)


@pytest.mark.parametrize("kwargs, message", [
    ({"cell": "cnn", "features": 3}, r"cell must be one of \['rnn', 'lstm', 'gru'\]"),
    ({"features": 0}, "features must be >= 1"),
    ({"features": 3, "dropout": 1.0}, r"dropout must lie in \[0, 1\)"),
    ({"features": 3, "classes": 1}, "classes >= 2"),
    ({"input_kind": "tokens", "vocab_size": 1}, "vocab_size must be >= 2"),
])
def test_config_validation(kwargs, message):
    with pytest.raises(InputError, match=message):
        ModelConfig(**kwargs)


@pytest.mark.parametrize("cell, gates", [("rnn", 1), ("gru", 3), ("lstm", 4)])
def test_initialisation_orthogonal_recurrence_and_lstm_forget_bias(cell, gates):
    model = make(cell, 2)
    for layer in range(2):
        w_hh = getattr(model.rnn, f"weight_hh_l{layer}").detach()
        for block in w_hh.split(16):  # one orthogonal block per gate
            torch.testing.assert_close(block @ block.T, torch.eye(16), atol=1e-5, rtol=0)
        b_ih = getattr(model.rnn, f"bias_ih_l{layer}").detach()
        expected = torch.zeros(gates * 16)
        if cell == "lstm":
            expected[16:32] = 1.0  # forget gate
        torch.testing.assert_close(b_ih, expected, atol=0, rtol=0)
        assert not getattr(model.rnn, f"bias_hh_l{layer}").detach().any()
