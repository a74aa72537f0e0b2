"""Many independent streams advanced together: one ``session.run`` per group of equal-length chunks.

Every stream owns a slot in stacked state arrays (``[layers, capacity, hidden]`` for the usual
state; any listed state, along its own batch axis). ``push({id: chunk, ...})`` runs the front end
of each stream, groups the streams by how many steps their chunk completes (the always-on case,
every stream pushing one frame, is one group), gathers the group's states along the batch axis,
runs the graph once per group and scatters the new states back. Streams of one group never pad:
a stream's state after a call is exactly its state after its own last step, so each stream's
outputs equal running it alone. Streams join (``open``) and leave (``close``) at any time; a
freed slot is reused, and the arrays grow by doubling when all slots are taken.

One StreamBatch is for one thread at a time; threads that share a Model each make their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

import numpy as np

from edgernn.runtime.errors import InputError, InputTypeError

if TYPE_CHECKING:
    from edgernn.runtime.model import Model

INITIAL_CAPACITY = 16


class StreamBatch:
    """Independent streams of one model, advanced in as few graph calls as their chunks allow."""

    def __init__(self, model: "Model", capacity: int = INITIAL_CAPACITY):
        from edgernn.runtime.model import softmax

        self.model = model
        self._softmax = softmax
        self._specs = model.state_specs
        self._names = ["logits", *(s.output for s in self._specs)]
        self._states = [np.zeros(s.zeros_shape(capacity), dtype=np.float32) for s in self._specs]
        self._free = list(range(capacity - 1, -1, -1))  # pop() hands out the lowest slot first
        self._slot: dict[int, int] = {}
        self._frontend: dict[int, Any] = {}
        self._steps: dict[int, int] = {}
        self._next_id = 0
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
        self._slot[sid] = slot
        self._frontend[sid] = self.model.frontend.stream()  # audio: its own sample buffer
        self._steps[sid] = 0
        self._zero(slot)
        return sid

    def close(self, sid: int) -> None:
        """End a stream; its slot is reused by a later ``open``."""
        self._free.append(self._slot.pop(self._known(sid)))
        del self._frontend[sid], self._steps[sid]

    def reset(self, sid: int) -> None:
        """Zero one stream's state (and drop its buffered samples) without closing it."""
        self._zero(self._slot[self._known(sid)])
        self._frontend[sid].reset()
        self._steps[sid] = 0

    def steps(self, sid: int) -> int:
        """Steps the stream has taken since it was opened or reset."""
        return self._steps[self._known(sid)]

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
        model = self.model
        checked = {self._known(sid): model.frontend.check(chunk, f"stream {sid} chunk") for sid, chunk in chunks.items()}
        groups: dict[int, list[tuple[int, np.ndarray]]] = {}
        result: dict[int, np.ndarray] = {}
        for sid, chunk in checked.items():
            x = self._frontend[sid].push(chunk)
            if len(x) == 0:
                result[sid] = self._empty
            else:
                groups.setdefault(len(x), []).append((sid, x))
        for length, members in groups.items():
            slots = np.fromiter((self._slot[sid] for sid, _ in members), dtype=np.intp, count=len(members))
            feeds = {"x": np.stack([x for _, x in members])}
            for spec, array in zip(self._specs, self._states):
                feeds[spec.name] = np.take(array, slots, axis=spec.batch_axis)
            logits, *states = model.session.run(self._names, feeds)
            for spec, array, new in zip(self._specs, self._states, states):
                index = [slice(None)] * array.ndim
                index[spec.batch_axis] = slots
                array[tuple(index)] = new
            probs = self._softmax(logits)
            for row, (sid, _) in enumerate(members):
                result[sid] = probs[row]
                self._steps[sid] += length
        return result

    def _known(self, sid: int) -> int:
        if sid not in self._slot:
            raise InputError(f"no open stream with id {sid!r}; {len(self._slot)} streams are open"
                             + (f" (ids {min(self._slot)}..{max(self._slot)})" if self._slot else ""))
        return sid

    def _zero(self, slot: int) -> None:
        for spec, array in zip(self._specs, self._states):
            index = [slice(None)] * array.ndim
            index[spec.batch_axis] = slot
            array[tuple(index)] = 0.0

    def _grow(self) -> None:
        old = self._states[0].shape[self._specs[0].batch_axis]
        self._states = [np.concatenate([a, np.zeros_like(a)], axis=s.batch_axis) for s, a in zip(self._specs, self._states)]
        self._free = list(range(2 * old - 1, old - 1, -1))
