"""Scoring detected events against what was said in a stream: keywords caught, false alarms.

The matching rule (docs/streams.md, "Streams"): an event matches a spoken keyword when
- its label is the keyword's label, and
- its onset (the time at which the event's first step ends) lies within the keyword's span,
  from its start to ``tolerance_s`` after its end (smoothing and ``min_steps`` put the onset
  after the model has heard enough, which for a short word is often after it ended);
each keyword is matched at most once and each event at most one keyword: events are taken in
onset order, each matching the earliest unmatched keyword it may. Every event that matches no
keyword is a false alarm of its label: a second event on one word, an event of the wrong label,
an event on noise or on speech that is no keyword. Utterances whose label is not a keyword
(``_unknown_`` words, say) are never caught or missed; events on them are false alarms.
False alarms per hour are counted over the whole stream's duration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from edgernn.runtime.errors import InputError

TOLERANCE_S = 0.5  # an onset up to half a second after a keyword's end still catches it


@dataclass(frozen=True)
class Utterance:
    """What was said: a label and its span in seconds from the stream's start."""
    label: str
    start_s: float
    end_s: float

    @classmethod
    def from_json(cls, row: dict) -> "Utterance":
        try:
            utterance = cls(str(row["label"]), float(row["start_s"]), float(row["end_s"]))
        except (KeyError, TypeError, ValueError):
            raise InputError(f"a truth entry needs label, start_s and end_s (seconds), got {row!r}") from None
        if not (math.isfinite(utterance.start_s) and math.isfinite(utterance.end_s)) or utterance.end_s < utterance.start_s:
            raise InputError(f"a truth entry needs finite start_s <= end_s, got {row!r}")
        return utterance


@dataclass
class StreamScore:
    """Counts per keyword label over one or more streams of ``seconds`` in all."""
    keywords: list[str]
    seconds: float = 0.0
    said: dict[str, int] = field(default_factory=dict)
    caught: dict[str, int] = field(default_factory=dict)
    false_alarms: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for counts in (self.said, self.caught, self.false_alarms):
            for label in self.keywords:
                counts.setdefault(label, 0)

    def add(self, other: "StreamScore") -> None:
        self.seconds += other.seconds
        for mine, theirs in ((self.said, other.said), (self.caught, other.caught), (self.false_alarms, other.false_alarms)):
            for label, count in theirs.items():
                mine[label] = mine.get(label, 0) + count

    def recall(self, label: str | None = None) -> float | None:
        said = self.said[label] if label else sum(self.said.values())
        caught = self.caught[label] if label else sum(self.caught.values())
        return caught / said if said else None

    def false_alarms_per_hour(self, label: str | None = None) -> float:
        count = self.false_alarms.get(label, 0) if label else sum(self.false_alarms.values())
        return count * 3600.0 / self.seconds if self.seconds > 0 else math.inf

    def to_json(self) -> dict:
        """Overall and per keyword: said, caught, recall, false alarms, false alarms per hour and
        the one-sided 95% upper bound on that rate (Poisson)."""
        hours = self.seconds / 3600.0

        def row(label: str | None) -> dict:
            alarms = self.false_alarms.get(label, 0) if label else sum(self.false_alarms.values())
            recall = self.recall(label)
            return {"said": self.said[label] if label else sum(self.said.values()),
                    "caught": self.caught[label] if label else sum(self.caught.values()),
                    "recall": None if recall is None else round(recall, 4), "false_alarms": alarms,
                    "false_alarms_per_hour": round(self.false_alarms_per_hour(label), 3),
                    "false_alarms_per_hour_upper95": round(poisson_upper(alarms) / hours, 3) if hours > 0 else None}
        return {"seconds": round(self.seconds, 2), **row(None), "per_class": {label: row(label) for label in self.keywords}}


def score_stream(events: list[tuple[str, float]], truth: list[Utterance], seconds: float, keywords: list[str],
                 tolerance_s: float = TOLERANCE_S) -> StreamScore:
    """Score one stream: ``events`` as (label, onset in seconds), ``truth`` what was said in it,
    ``seconds`` its length; see the module's docstring for the rule."""
    score = StreamScore(list(keywords), seconds)
    wanted = sorted((u for u in truth if u.label in score.said), key=lambda u: u.start_s)
    for utterance in wanted:
        score.said[utterance.label] += 1
    matched = [False] * len(wanted)
    for label, onset in sorted(events, key=lambda e: e[1]):
        hit = next((i for i, u in enumerate(wanted) if not matched[i] and u.label == label
                    and u.start_s <= onset <= u.end_s + tolerance_s), None)
        if hit is None:
            score.false_alarms[label] = score.false_alarms.get(label, 0) + 1
        else:
            matched[hit] = True
            score.caught[label] += 1
    return score


def poisson_upper(count: int, confidence: float = 0.95) -> float:
    """The one-sided upper confidence bound on a Poisson mean after observing ``count`` events:
    the mean at which seeing ``count`` or fewer has probability 1 - confidence (3.0 for 0 at 95%)."""
    def at_most(mean: float) -> float:
        term = total = math.exp(-mean)
        for k in range(1, count + 1):
            term *= mean / k
            total += term
        return total
    low, high = float(count), float(count) + 10.0 + 10.0 * math.sqrt(count + 1)
    for _ in range(100):  # bisection: at_most falls as the mean grows
        middle = (low + high) / 2
        low, high = (middle, high) if at_most(middle) > 1 - confidence else (low, middle)
    return high
