"""Many streams in one object (runtime/batch.py): each stream's outputs equal its solo run."""

from __future__ import annotations

import threading

import numpy as np
import pytest

from edgernn.runtime import InputError, InputTypeError, Model
from edgernn.runtime.datasets import read_ts


def solo(model: Model, sequence: np.ndarray) -> np.ndarray:
    """Per-step probabilities of one sequence pushed whole into its own stream, float32 [time, classes]."""
    return model.stream().push(sequence)


@pytest.mark.parametrize("cell", ["gru", "lstm"])  # lstm: 2 layers and a second state tensor
def test_256_streams_in_random_chunks_and_order_equal_their_solo_runs(quick_runs, sample_test_file, cell):
    model = Model(quick_runs[cell][2]["fp32"].path, threads=1)
    sequences = read_ts(sample_test_file).sequences
    rng = np.random.default_rng(0)
    batch = model.batch()
    ids = [batch.open() for _ in range(256)]
    assigned = {sid: sequences[i % len(sequences)] for i, sid in enumerate(ids)}
    position = dict.fromkeys(ids, 0)
    outputs = {sid: [] for sid in ids}
    while any(position[sid] < len(assigned[sid]) for sid in ids):
        chosen = rng.permutation(ids)[: int(rng.integers(1, 257))]  # a random subset, in random order
        chunks = {}
        for sid in chosen:
            size = int(rng.integers(0, 9))  # 0: an empty chunk is a no-op
            chunks[int(sid)] = assigned[sid][position[sid]:position[sid] + size]
            position[sid] += size
        for sid, probs in batch.push(chunks).items():
            outputs[sid].append(probs)
    worst = max(float(np.abs(np.concatenate(outputs[sid]) - solo(model, assigned[sid])).max()) for sid in ids)
    assert worst <= 1e-5
    assert all(batch.steps(sid) == len(assigned[sid]) for sid in ids)


def test_streams_join_leave_and_reuse_slots(quick_runs, sample_test_file):
    model = Model(quick_runs["gru"][2]["fp32"].path)
    seqs = read_ts(sample_test_file).sequences
    batch = model.batch()
    first = [batch.open() for _ in range(20)]  # beyond the initial 16 slots: the arrays grow
    for sid in first:
        batch.push({sid: seqs[sid][:3]})
    for sid in first[::2]:
        batch.close(sid)
    late = batch.open()  # takes a freed slot and must start from zero state
    assert late == 20 and len(batch) == 11
    out = batch.push({late: seqs[40], first[1]: seqs[1][3:]})
    np.testing.assert_allclose(out[late], solo(model, seqs[40]), atol=1e-5)
    np.testing.assert_allclose(out[first[1]], solo(model, seqs[1])[3:], atol=1e-5)
    batch.reset(first[1])
    assert batch.steps(first[1]) == 0 and not batch.state(first[1])["h"].any()


def test_bad_ids_and_chunks_are_refused_before_any_stream_moves(quick_runs, sample_test_file):
    model = Model(quick_runs["gru"][2]["fp32"].path)
    seq = read_ts(sample_test_file).sequences[0]
    batch = model.batch()
    a, b = batch.open(), batch.open()
    batch.push({a: seq[:2], b: seq[:2]})
    before = batch.state(a)["h"].copy()
    with pytest.raises(InputError, match=r"stream 1 chunk: expected shape \[time, 12\], got \[2, 5\]"):
        batch.push({a: seq[2:4], b: np.zeros((2, 5), np.float32)})
    np.testing.assert_array_equal(batch.state(a)["h"], before)
    assert batch.steps(a) == 2
    with pytest.raises(InputError, match=r"no open stream with id 7; 2 streams are open \(ids 0..1\)"):
        batch.push({7: seq[:1]})
    batch.close(a)
    with pytest.raises(InputError, match="no open stream with id 0"):
        batch.close(a)
    with pytest.raises(InputTypeError, match=r"expected a mapping \{stream id: chunk\}, got list"):
        batch.push([seq])


def test_one_model_serves_many_threads_each_with_its_own_streams(quick_runs, sample_test_file):
    model = Model(quick_runs["lstm"][2]["fp32"].path, threads=1)
    sequences = read_ts(sample_test_file).sequences[:32]
    expected = [solo(model, s) for s in sequences]
    errors: list[float] = []

    def worker(offset: int) -> None:
        batch = model.batch()
        mine = {batch.open(): i for i in range(offset, len(sequences), 4)}
        got = {sid: [] for sid in mine}
        for start in range(0, 30, 3):
            out = batch.push({sid: sequences[i][start:start + 3] for sid, i in mine.items()})
            for sid, probs in out.items():
                got[sid].append(probs)
        single = model.stream()  # a plain stream in the same thread, interleaved with the batch
        errors.append(float(np.abs(single.push(sequences[offset]) - expected[offset]).max()))
        errors.extend(float(np.abs(np.concatenate(got[sid]) - expected[i]).max()) for sid, i in mine.items())

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(errors) == 4 + 32 and max(errors) <= 1e-5


@pytest.mark.parametrize("cell", ["gru", "lstm"])
def test_push_array_matches_solo_streams_and_refuses_bad_rows(quick_runs, sample_test_file, cell):
    model = Model(quick_runs[cell][2]["fp32"].path, threads=1)
    sequences = [s[:7] for s in read_ts(sample_test_file).sequences[:40]]  # 7 steps each (the shortest is 7)
    batch = model.batch()
    ids = np.array([batch.open() for _ in range(40)])
    rng = np.random.default_rng(1)
    out = {sid: [] for sid in ids}
    for start in range(7):  # each step, a random subset of streams in random order
        chosen = rng.permutation(ids)[: int(rng.integers(1, 41))]
        if start == 6:
            chosen = ids[[len(out[s]) < 7 for s in ids]]
        rows = np.stack([sequences[sid][len(out[sid])][None] for sid in chosen])
        for sid, probs in zip(chosen, batch.push_array(chosen, rows)):
            out[sid].append(probs[0])
        if start == 6:
            break
    for sid in ids:  # streams left behind catch up in one multi-step call
        rest = sequences[sid][len(out[sid]):]
        if len(rest):
            out[sid].extend(batch.push_array([sid], rest[None])[0])
    worst = max(float(np.abs(np.stack(out[sid]) - solo(model, sequences[sid])).max()) for sid in ids)
    assert worst <= 1e-5
    with pytest.raises(InputError, match=r"x: expected shape \[2, steps, 12\] with steps >= 1, got \[2, 1, 5\]"):
        batch.push_array(ids[:2], np.zeros((2, 1, 5), np.float32))
    with pytest.raises(InputTypeError, match="x: expected a float32 numpy array"):
        batch.push_array(ids[:2], np.zeros((2, 1, 12), np.float64))
    with pytest.raises(InputError, match="a stream appears more than once"):
        batch.push_array([0, 0], np.zeros((2, 1, 12), np.float32))
    with pytest.raises(InputError, match="no open stream with id 99"):
        batch.push_array([0, 99], np.zeros((2, 1, 12), np.float32))
    bad = np.zeros((2, 1, 12), np.float32)
    bad[1, 0, 3] = np.inf
    with pytest.raises(InputError, match=r"NaN/Inf in row 1 \(stream 5\), step 0, feature 3"):
        batch.push_array([0, 5], bad)


def test_full_batch_runs_on_the_stacked_state_without_gathering(quick_runs, sample_test_file):
    """16 streams fill the 16 initial slots: push_array of all of them in slot order feeds the
    stacked arrays directly; results still equal solo runs."""
    model = Model(quick_runs["gru"][2]["fp32"].path, threads=1)
    sequences = [s[:7] for s in read_ts(sample_test_file).sequences[:16]]
    batch = model.batch()
    ids = np.array([batch.open() for _ in range(16)])
    probs = batch.push_array(ids, np.stack(sequences))
    assert batch._capacity == 16
    np.testing.assert_allclose(probs, np.stack([solo(model, s) for s in sequences]), atol=1e-5)
    batch.reset(int(ids[3]))
    again = batch.push_array(ids, np.stack(sequences))
    np.testing.assert_allclose(again[3], solo(model, sequences[3]), atol=1e-5)


def test_push_array_checks_ids_again_after_streams_open_or_close(quick_runs, sample_test_file):
    """The checked ids of the last call are reused only while no stream opens or closes."""
    model = Model(quick_runs["gru"][2]["fp32"].path, threads=1)
    sequences = [s[:7] for s in read_ts(sample_test_file).sequences[:17]]
    batch = model.batch()
    ids = np.array([batch.open() for _ in range(16)])
    x = np.stack(sequences[:16])[:, :1]
    batch.push_array(ids, x)
    batch.push_array(ids, x)  # the same ids again: the kept slots
    batch.close(int(ids[5]))
    with pytest.raises(InputError, match=f"no open stream with id {ids[5]}"):
        batch.push_array(ids, x)
    newcomer = batch.open()  # takes the freed slot 5
    ids[5] = newcomer
    probs = batch.push_array(ids, np.stack(sequences[:5] + [sequences[16]] + sequences[6:16]))
    np.testing.assert_allclose(probs[5], solo(model, sequences[16])[:7], atol=1e-5)
    assert batch.steps(newcomer) == 7 and batch.steps(int(ids[0])) == 9
    ids32 = ids.astype(np.int32)  # equal values, another dtype: checked, and the same slots
    batch.push_array(ids32, x)
    assert batch.steps(int(ids[0])) == 10


def test_dict_of_equal_chunks_takes_the_array_path_with_the_same_answers_and_errors(quick_runs, sample_test_file):
    model = Model(quick_runs["gru"][2]["fp32"].path, threads=1)
    sequences = [s for s in read_ts(sample_test_file).sequences if len(s) >= 6][:40]
    by_dict, by_array = model.batch(), model.batch()
    ids = [by_dict.open() for _ in sequences]
    assert ids == [by_array.open() for _ in sequences]
    for start in range(0, 6, 2):  # two steps a round, every stream: chunks of one shape
        x = np.stack([s[start:start + 2] for s in sequences])
        out = by_dict.push({sid: x[i] for i, sid in enumerate(ids)})
        np.testing.assert_array_equal(np.stack([out[sid] for sid in ids]), by_array.push_array(np.array(ids), x))
    for sid, sequence in zip(ids, sequences):
        np.testing.assert_allclose(out[sid][-1], solo(model, sequence[:6])[-1], atol=1e-5)
    bad = {sid: sequences[i][6:7].copy() for i, sid in enumerate(ids)}
    bad[ids[5]][0, 3] = np.nan  # one bad chunk among equal ones: the per-chunk path names its stream
    before = by_dict.state(ids[0])["h"].copy()
    with pytest.raises(InputError, match=rf"stream {ids[5]} chunk: NaN/Inf at step 0, feature 3"):
        by_dict.push(bad)
    np.testing.assert_array_equal(by_dict.state(ids[0])["h"], before)
    assert by_dict.steps(ids[0]) == 6
