"""Many independent streams advanced together: one ``session.run`` per group of equal-length chunks.

Every stream owns a slot in stacked state arrays (``[layers, capacity, hidden]`` for the usual
state; any listed state, along its own batch axis). A call gathers the states of the streams it
advances along the batch axis, runs the graph once, and scatters the new states back; when it
advances every stream, slot by slot, the stacked arrays are fed and replaced as they are, with
no gather or scatter at all. Streams of one call never pad: a stream's state after a call is
its state after its own last step, so each stream's outputs equal running it alone. Streams
join (``open``) and leave (``close``) at any time; a freed slot is reused, and the arrays grow
by doubling when every slot is taken.

Two ways in:
- ``push({id: chunk, ...})``: any chunks a ``Stream`` takes (raw audio included); streams are
  grouped by the number of steps their chunk completes, one graph call per group.
- ``push_array(ids, x)``: the server path, for feature frames or token ids already stacked as
  one array ``[n, steps, ...]``; checked, standardised and softmaxed as whole arrays, so the
  per-call cost hardly grows with the number of streams.

One StreamBatch is for one thread at a time; threads that share a Model each make their own.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from edgernn.runtime.errors import InputError, InputTypeError
from edgernn.runtime.softmax import softmax

if TYPE_CHECKING:
    from edgernn.runtime.model import Model

INITIAL_CAPACITY = 16
X_DTYPES = {"features": np.dtype(np.float32), "tokens": np.dtype(np.int64)}


class StreamBatch:
    """Independent streams of one model, advanced in as few graph calls as their chunks allow."""

    def __init__(self, model: "Model", capacity: int = INITIAL_CAPACITY):
        self.model = model
        self._softmax = softmax  # bound once: called every step
        self._specs = model.state_specs
        self._names = ["logits", *(s.output for s in self._specs)]
        self._states = [np.zeros(s.zeros_shape(capacity), dtype=np.float32) for s in self._specs]
        self._capacity = capacity
        self._free = list(range(capacity - 1, -1, -1))  # pop() hands out the lowest slot first
        self._slot: dict[int, int] = {}  # stream id -> slot
        self._slot_of_id = np.full(64, -1, dtype=np.int64)  # the same, as an array for push_array
        self._frontend: dict[int, Any] = {}
        self._primes = hasattr(model.frontend.stream(), "take_initial_state")
        self._steps = np.zeros(capacity, dtype=np.int64)  # per slot
        self._next_id = 0
        self._last_ids: tuple[bytes, np.ndarray, bool] | None = None  # push_array's last checked ids: key, slots, every_slot
        self._empty = np.empty((0, len(model.labels)), dtype=np.float32)

    def __len__(self) -> int:
        return len(self._slot)

    @property
    def ids(self) -> list[int]:
        """Ids of the open streams, in the order they were opened."""
        return list(self._slot)

    def open(self) -> int:
        """Start a stream from zero state; returns its id (ids are never reused)."""
        if not self._free:
            self._grow()
        sid, slot = self._next_id, self._free.pop()
        self._next_id += 1
        if sid >= len(self._slot_of_id):
            self._slot_of_id = np.concatenate([self._slot_of_id, np.full(len(self._slot_of_id), -1, dtype=np.int64)])
        self._slot[sid] = slot
        self._slot_of_id[sid] = slot
        self._last_ids = None
        self._frontend[sid] = self.model.frontend.stream()  # audio: its own sample buffer
        self._reset_slot(slot)
        return sid

    def close(self, sid: int) -> None:
        """End a stream; its slot is reused by a later ``open``."""
        self._free.append(self._slot.pop(self._known(sid)))
        self._slot_of_id[sid] = -1
        self._last_ids = None
        del self._frontend[sid]

    def reset(self, sid: int) -> None:
        """Zero one stream's state (and drop its buffered samples) without closing it."""
        self._reset_slot(self._slot[self._known(sid)])
        self._frontend[sid].reset()

    def reset_state(self, sid: int) -> None:
        """Zero one stream's recurrent state only, as ``Stream.reset_state`` does: an audio graph's
        front-end state (window overlap, running mean) and the step count go on."""
        slot = self._slot[self._known(sid)]
        for spec, array in zip(self._specs, self._states):
            if not spec.frontend:
                index = [slice(None)] * array.ndim
                index[spec.batch_axis] = slot
                array[tuple(index)] = 0.0

    def steps(self, sid: int) -> int:
        """Steps the stream has taken since it was opened or reset."""
        return int(self._steps[self._slot[self._known(sid)]])

    def state(self, sid: int) -> dict[str, np.ndarray]:
        """Copies of one stream's state, each with batch size 1."""
        slot = self._slot[self._known(sid)]
        return {spec.name: np.take(array, [slot], axis=spec.batch_axis)
                for spec, array in zip(self._specs, self._states)}

    def push(self, chunks: Mapping[int, Any]) -> dict[int, np.ndarray]:
        """Advance every stream named in ``chunks`` ({id: chunk}) by its chunk.

        A chunk is what ``Stream.push`` takes. Returns {id: float32 [steps, classes]} with every
        id of ``chunks``; a chunk that completes no step gives an empty [0, classes] array. All
        chunks are checked before any stream advances, so a bad chunk changes no state.
        """
        if not isinstance(chunks, Mapping):
            raise InputTypeError(f"expected a mapping {{stream id: chunk}}, got {type(chunks).__name__}")
        stacked = self._push_stacked(chunks)
        if stacked is not None:
            return stacked
        check, allow = self.model.frontend.check, self.model.allow_nonfinite
        checked = [(self._known(sid), check(chunk, f"stream {sid} chunk", allow)) for sid, chunk in chunks.items()]
        groups: dict[int, list[tuple[int, np.ndarray]]] = {}
        result: dict[int, np.ndarray] = {}
        for sid, chunk in checked:
            frontend = self._frontend[sid]
            x = frontend.push(chunk)
            if self._primes:  # an audio graph that computes its own frames: the stream's first samples
                self._set_slot(self._slot[sid], frontend.take_initial_state())
            if len(x) == 0:
                result[sid] = self._empty
            else:
                groups.setdefault(len(x), []).append((sid, x))
        for members in groups.values():
            slots = np.fromiter((self._slot[sid] for sid, _ in members), dtype=np.int64, count=len(members))
            probs = self._advance(slots, np.stack([x for _, x in members]), self._every_slot(slots))
            for row, (sid, _) in enumerate(members):
                result[sid] = probs[row]
        return result

    def push_array(self, ids: Any, x: np.ndarray) -> np.ndarray:
        """Advance streams ``ids`` (int [n], distinct) by ``x``: feature frames float32
        [n, steps, features] or token ids int64 [n, steps], row i for stream ids[i].

        Returns float32 [n, steps, classes]. Feature and token models only (audio streams keep
        per-stream sample buffers, and a framing model each stream's unfinished frame: use ``push``).
        Checked as a whole before any stream advances.
        """
        model = self.model
        kind = model.frontend.kind
        if kind not in ("features", "token_ids"):
            raise InputError(f"push_array takes feature frames or token ids; this model's front end is {kind!r}: use push")
        ids = np.asarray(ids)
        if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
            raise InputTypeError(f"ids: expected a 1-D integer array of stream ids, got {ids.dtype} {list(ids.shape)}")
        x = self._check_array(x, ids)
        slots, every_slot = self._slots_of(ids)
        return self._advance(slots, model.frontend(x) if kind == "features" else x, every_slot)

    def _push_stacked(self, chunks: Mapping[int, Any]) -> dict[int, np.ndarray] | None:
        """``push`` as one ``push_array`` call when it can be: a feature or token model (its front
        end keeps nothing per stream) and chunks that are arrays of one shape and the graph's dtype.

        Returns None when it cannot, and for any input push_array refuses, so that the per-chunk
        path answers (and names the stream of a bad chunk in its error).
        """
        expected = X_DTYPES.get(self.model.metadata.input_kind)
        if not chunks or expected is None or self.model.frontend.kind not in ("features", "token_ids"):
            return None
        values = list(chunks.values())
        shape = getattr(values[0], "shape", None)
        for value in values:  # the usual dtype object, by identity: anything else takes the per-chunk path
            if value.__class__ is not np.ndarray or value.dtype is not expected or value.shape != shape:
                return None
        try:
            ids = np.fromiter(chunks, dtype=np.int64, count=len(values))
            # concatenate and reshape: a third of np.stack's time for hundreds of small chunks
            probs = self.push_array(ids, np.concatenate(values).reshape(len(values), *shape))
        except (InputError, TypeError, ValueError, OverflowError):  # InputTypeError is a TypeError
            return None
        return dict(zip(chunks, probs))

    def _slots_of(self, ids: np.ndarray) -> tuple[np.ndarray, bool]:
        """Slots of distinct open stream ids (int [n]) and whether they are every slot in order.

        A server pushes the same ids round after round, so the last answer is kept until a
        stream opens or closes; the key is the ids' bytes and dtype, so only equal ids reuse it.
        """
        key = ids.dtype.str.encode() + ids.tobytes()
        if self._last_ids is not None and self._last_ids[0] == key:
            return self._last_ids[1], self._last_ids[2]
        if len(ids) and (ids.min() < 0 or ids.max() >= len(self._slot_of_id)):
            self._known(int(ids[(ids < 0) | (ids >= len(self._slot_of_id))][0]))  # raises, naming the id
        slots = self._slot_of_id[ids]
        if (slots < 0).any():
            self._known(int(ids[np.argmax(slots < 0)]))  # raises, naming the id
        every_slot = self._every_slot(slots)
        if not every_slot and len(slots) > 1 and len(np.unique(slots)) != len(slots):
            raise InputError("ids: a stream appears more than once; each row of x must be a different stream")
        self._last_ids = (key, slots, every_slot)
        return slots, every_slot

    def _check_array(self, x: Any, ids: np.ndarray) -> np.ndarray:
        meta, rows = self.model.metadata, len(ids)
        expected = X_DTYPES[meta.input_kind]
        shape = f"[{rows}, steps, {meta.features}]" if meta.input_kind == "features" else f"[{rows}, steps]"
        if not isinstance(x, np.ndarray) or x.dtype != expected:
            got = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
            raise InputTypeError(f"x: expected a {expected} numpy array {shape}, got {got}")
        rank = 3 if meta.input_kind == "features" else 2
        if x.ndim != rank or x.shape[0] != rows or x.shape[1] < 1 or (rank == 3 and x.shape[2] != meta.features):
            raise InputError(f"x: expected shape {shape} with steps >= 1, got {list(x.shape)}")
        # finite: a dot product of x with itself (one BLAS call; NaN or Inf make it non-finite), and
        # element by element only when that fails (values whose squares overflow are finite too)
        if (rank == 3 and not self.model.allow_nonfinite and not math.isfinite(np.vdot(x, x))
                and not np.isfinite(x).all()):
            row, step, feature = (int(i) for i in np.argwhere(~np.isfinite(x))[0])
            raise InputError(f"x: NaN/Inf in row {row} (stream {ids[row]}), step {step}, feature {feature}; inputs must be finite")
        if rank == 2 and x.size and (x.min() < 0 or x.max() >= meta.vocab_size):
            raise InputError(f"x: token ids must lie in [0, {meta.vocab_size})")
        return x

    def _advance(self, slots: np.ndarray, x: np.ndarray, every_slot: bool) -> np.ndarray:
        """Run the graph once for the distinct streams in ``slots`` on prepared x [n, steps, ...]
        (``every_slot``: slots are 0..capacity-1 in order); returns probabilities."""
        feeds = {"x": x}
        if every_slot:  # the stacked arrays as they are: no gather, no scatter
            for spec, array in zip(self._specs, self._states):
                feeds[spec.name] = array
        else:
            for spec, array in zip(self._specs, self._states):
                feeds[spec.name] = np.take(array, slots, axis=spec.batch_axis)
        logits, *states = self.model.session.run(self._names, feeds)
        if every_slot:
            self._states = states
        else:
            for spec, array, new in zip(self._specs, self._states, states):
                index = [slice(None)] * array.ndim
                index[spec.batch_axis] = slots
                array[tuple(index)] = new
        if every_slot:
            self._steps += x.shape[1]
        else:
            self._steps[slots] += x.shape[1]
        return self._softmax(logits)

    def _every_slot(self, slots: np.ndarray) -> bool:
        """Whether ``slots`` are 0..capacity-1 in order: the stacked state can be fed as it is."""
        return len(slots) == self._capacity and bool((slots == np.arange(len(slots))).all())

    def _known(self, sid: int) -> int:
        if sid not in self._slot:
            raise InputError(f"no open stream with id {sid!r}; {len(self._slot)} streams are open"
                             + (f" (ids {min(self._slot)}..{max(self._slot)})" if self._slot else ""))
        return sid

    def _reset_slot(self, slot: int) -> None:
        for spec, array in zip(self._specs, self._states):
            index = [slice(None)] * array.ndim
            index[spec.batch_axis] = slot
            array[tuple(index)] = 0.0
        self._steps[slot] = 0

    def _set_slot(self, slot: int, states: dict[str, np.ndarray]) -> None:
        """Write {state name: float32 [.., 1, ..]} into one slot's rows of the stacked state."""
        for spec, array in zip(self._specs, self._states):
            if spec.name in states:
                index = [slice(None)] * array.ndim
                index[spec.batch_axis] = slice(slot, slot + 1)
                array[tuple(index)] = states[spec.name]

    def _grow(self) -> None:
        old = self._capacity
        self._states = [np.concatenate([a, np.zeros_like(a)], axis=s.batch_axis) for s, a in zip(self._specs, self._states)]
        self._steps = np.concatenate([self._steps, np.zeros(old, dtype=np.int64)])
        self._capacity = 2 * old
        self._free = list(range(2 * old - 1, old - 1, -1))
