"""The synthetic keyword set (samples/synth_keywords.py): classes, splits and voices kept apart."""

from __future__ import annotations

import re
import shutil

import pytest

from edgernn.runtime.splits import load_train_test
from edgernn.samples import synth_keywords as synth

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                reason="needs espeak-ng and sox (apt-get install -y espeak-ng sox; .ci/run installs them)")


def test_the_test_voices_are_never_trained_on(tmp_path, monkeypatch):
    monkeypatch.setattr(synth, "KEYWORDS", ("yes", "no"))
    monkeypatch.setattr(synth, "OTHER_WORDS", ("house", "tree"))
    monkeypatch.setattr(synth, "ACCENTS", ("en-gb", "en-us"))
    monkeypatch.setattr(synth, "TRAIN_VARIANTS", ("m1", "f1", "croak"))
    monkeypatch.setattr(synth, "TEST_VARIANTS", ("m6", "f4"))
    monkeypatch.setattr(synth, "TRAIN_TAKES_PER_ACCENT", 2)
    monkeypatch.setattr(synth, "BACKGROUND_CLIPS", {"train": 3, "test": 2})
    counts = synth.synthesise(tmp_path, takes=2, seed=0, jobs=1)
    # 3 word classes x 2 accents x (2 takes x 2 per accent training clips, 2 test variants), plus noise
    assert counts == {"train": 3 * 2 * 2 * 2 + 3, "test": 3 * 2 * 2 + 2}
    train, test = load_train_test(tmp_path, test_regex="^test_")
    assert train.classes == ["_background_", "_unknown_", "no", "yes"] and train.sample_rate == synth.RATE
    assert (len(train), len(test)) == (counts["train"], counts["test"])
    voice = re.compile(r"^(?:train|test)_(.+?)_([mf]\d|croak)_")
    files = {split: {p.name for p in tmp_path.rglob(f"{split}_*.wav") if p.parent.name != "_background_"}
             for split in ("train", "test")}
    voices = {split: {voice.match(name).groups() for name in names} for split, names in files.items()}
    assert voices["train"] and voices["test"] and not voices["train"] & voices["test"]
    assert {variant for _, variant in voices["test"]} == set(synth.TEST_VARIANTS)
    assert {variant for _, variant in voices["train"]} <= set(synth.TRAIN_VARIANTS)
