"""Bundled sample data: JapaneseVowels (UCI, CC BY 4.0; see japanese_vowels/ATTRIBUTION.md)."""

from importlib import resources
from pathlib import Path


def sample_dataset() -> Path:
    """Folder holding JapaneseVowels_TRAIN.ts and JapaneseVowels_TEST.ts."""
    return Path(str(resources.files("edgernn.samples") / "japanese_vowels"))
