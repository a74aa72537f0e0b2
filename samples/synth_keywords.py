"""A synthetic keyword-spotting set: spoken keywords, other words and background noise, with the
voices of the training and test splits kept apart.

    python -m edgernn.samples.synth_keywords OUT [--takes 2] [--seed 0]

Needs Debian's espeak-ng and sox (`apt-get install -y espeak-ng sox`). Writes one sub-folder per
class under OUT, 16 kHz mono 16-bit WAV:
- ``KEYWORDS`` (Speech Commands' ten), each spoken at a random speed (110-210 words per minute),
  pitch (20-80) and level (-12 to 0 dB): in every accent, ``takes`` x TRAIN_TAKES_PER_ACCENT
  times by training voices drawn from TRAIN_VARIANTS, and once by every test voice;
- ``_unknown_``: ``OTHER_WORDS`` spoken the same way (speech a keyword model must not fire on);
- ``_background_``: one-second clips of white, pink and brown noise and mains hum at random levels.
A voice is an espeak-ng accent with a voice variant; the test split holds the variants in
``TEST_VARIANTS`` (every accent), the training split the 50 others of TRAIN_VARIANTS, so no test
voice is trained on. Voices are drawn from many variants rather than taken from a few: with
eight training variants, one model scored 97% on validation clips of its own voices and 90% on
the test voices' clips; with these 50, one model scored 96% and 91.5%.
File names begin with the split: train on OUT with ``--test-regex '^test_'``.
Synthetic speech is far easier than real speech: use it for plumbing and for streams, and judge
accuracy on real recordings.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from edgernn.runtime.errors import InputError
from edgernn.runtime.wav import write_wav

KEYWORDS = ("yes", "no", "up", "down", "left", "right", "on", "off", "stop", "go")
OTHER_WORDS = ("house", "tree", "bird", "happy", "seven", "marvin", "wow", "dog", "cat", "bed", "sheila", "learn")
ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp", "en-gb-x-gbcwmd", "en-029", "en-us-nyc")
# espeak-ng 1.51's voice variants (espeak-ng-data/voices/!v), none a copy of a test variant.
TRAIN_VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m8", "f1", "f2", "f3", "adam", "Alex", "Alicia", "Andy", "Annie",
                  "aunty", "belinda", "benjamin", "boris", "caleb", "croak", "david", "Denis", "ed", "edward", "Gene",
                  "grandma", "grandpa", "Hugo", "iven", "Jacky", "john", "klatt", "klatt2", "klatt3", "Lee", "linda",
                  "Marco", "max", "Michael", "Mike", "norbert", "paul", "quincy", "rob", "robert", "shelby", "steph",
                  "travis", "victor", "zac")
TEST_VARIANTS = ("m6", "m7", "f4", "f5")
TRAIN_TAKES_PER_ACCENT = 8  # training clips per word and accent, per take
RATE = 16000
BACKGROUND_CLIPS = {"train": 400, "test": 100}


def speak(word: str, accent: str, variant: str, rng: np.random.Generator, out: Path) -> None:
    """One take of ``word`` by a voice, resampled to RATE by sox."""
    speech = subprocess.run(["espeak-ng", "-v", f"{accent}+{variant}", "-s", str(int(rng.integers(110, 211))),
                             "-p", str(int(rng.integers(20, 81))), "--stdout", word], capture_output=True, check=True).stdout
    gain = f"{rng.uniform(-12.0, 0.0):.1f}"
    subprocess.run(["sox", "-q", "-t", "wav", "-", "-r", str(RATE), "-c", "1", "-b", "16", str(out), "gain", gain],
                   input=speech, check=True)


def noise_clip(rng: np.random.Generator, seconds: float = 1.0) -> np.ndarray:
    """White, pink or brown noise, or mains hum with a little noise, at -50 to -15 dBFS RMS."""
    n = int(seconds * RATE)
    kind = rng.integers(4)
    if kind == 3:
        t = np.arange(n) / RATE
        x = np.sin(2 * np.pi * rng.choice([50.0, 60.0]) * t) + 0.5 * np.sin(2 * np.pi * rng.choice([100.0, 120.0]) * t)
        x = x + 0.1 * rng.standard_normal(n)
    else:
        spectrum = np.fft.rfft(rng.standard_normal(n))
        frequencies = np.maximum(np.fft.rfftfreq(n, 1 / RATE), 1.0)
        x = np.fft.irfft(spectrum / frequencies ** (kind / 2), n)  # 0 white, 1 pink, 2 brown
    level = 10 ** (rng.uniform(-50.0, -15.0) / 20)
    return (x * level / np.sqrt(np.mean(x ** 2))).astype(np.float32)


def synthesise(out: str | Path, takes: int = 2, seed: int = 0, jobs: int = 2) -> dict[str, int]:
    """Write the set under ``out``; returns the clips written per split."""
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            raise InputError(f"{tool} is not installed: apt-get install -y espeak-ng sox")
    out = Path(out)
    rng = np.random.default_rng(seed)
    jobs_list = []
    for label, words in [(word, [word]) for word in KEYWORDS] + [("_unknown_", list(OTHER_WORDS))]:
        (out / label).mkdir(parents=True, exist_ok=True)
        for accent in ACCENTS:
            voices = [("train", str(variant), take) for take, variant in
                      enumerate(rng.choice(TRAIN_VARIANTS, takes * TRAIN_TAKES_PER_ACCENT))]
            for split, variant, take in voices + [("test", variant, 0) for variant in TEST_VARIANTS]:
                word = words[int(rng.integers(len(words)))]
                name = f"{split}_{accent}_{variant}_{take}" + ("" if label == word else f"_{word}") + ".wav"
                jobs_list.append((word, accent, variant, np.random.default_rng(rng.integers(2 ** 32)), out / label / name))
    with ThreadPoolExecutor(jobs) as pool:
        list(pool.map(lambda job: speak(*job), jobs_list))
    counts = {split: sum(j[4].name.startswith(f"{split}_") for j in jobs_list) for split in ("train", "test")}
    (out / "_background_").mkdir(parents=True, exist_ok=True)
    for split, count in BACKGROUND_CLIPS.items():
        for i in range(count):
            write_wav(out / "_background_" / f"{split}_noise_{i:04d}.wav", noise_clip(rng), RATE)
        counts[split] += count
    return counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help="folder to write (one sub-folder per class)")
    parser.add_argument("--takes", type=int, default=2, help="training clips per word and accent, in eights")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=2, help="synthesis processes at once")
    args = parser.parse_args(argv)
    try:
        counts = synthesise(args.out, args.takes, args.seed, args.jobs)
    except InputError as exc:
        sys.exit(f"error: {exc}")
    print(f"{args.out}: {counts['train']} training and {counts['test']} test clips")


if __name__ == "__main__":
    main()
