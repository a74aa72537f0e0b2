"""A continuous recording of spoken digits, for testing a streaming keyword model.

Joins one Free Spoken Digit Dataset test recording (takes 0-4, never trained on) per digit, with
pauses of low-level noise between them, into one WAV of a fixed length, and writes beside it a
JSON list of where each digit lies:

    python -m edgernn.samples.digit_recording ../shared/data/fsdd/recordings digits.wav --digits 31415926

Needs only numpy and the runtime.
"""

from __future__ import annotations

import argparse
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from edgernn.runtime.files import write_json_atomic
from edgernn.runtime.errors import InputError
from edgernn.runtime.wav import read_wav, write_wav

TEST_TAKE = re.compile(r"^(\d)_([a-z]+)_([0-4])\.wav$")  # FSDD official test split: takes 0-4


@dataclass(frozen=True)
class SpokenDigit:
    digit: str
    file: str
    start_s: float
    end_s: float


def digit_stream(recordings: str | Path, digits: str, seconds: float = 10.0, min_gap_s: float = 0.3,
                 noise_rms: float = 3e-4, seed: int = 0) -> tuple[np.ndarray, int, list[SpokenDigit]]:
    """(float32 [seconds * rate] samples, rate in Hz, the digits in order with their times).

    The pauses (before the first digit, between digits and after the last) are Gaussian noise of
    ``noise_rms``, each at least ``min_gap_s`` long, sharing the rest of ``seconds`` at random.
    """
    rng = np.random.default_rng(seed)
    by_digit: dict[str, list[Path]] = {}
    for path in sorted(Path(recordings).glob("*.wav")):
        match = TEST_TAKE.match(path.name)
        if match:
            by_digit.setdefault(match.group(1), []).append(path)
    missing = sorted(set(digits) - set(by_digit))
    if missing or not digits:
        raise InputError(f"{recordings}: no FSDD test recordings (<digit>_<speaker>_<0-4>.wav) for digits {missing or 'none asked'}")
    clips, rate = [], None
    for digit in digits:
        path = by_digit[digit][rng.integers(len(by_digit[digit]))]
        samples, clip_rate = read_wav(path)
        if rate not in (None, clip_rate):
            raise InputError(f"{path}: {clip_rate} Hz, but the other recordings are {rate} Hz")
        rate = clip_rate
        clips.append((digit, path.name, samples))
    speech = sum(len(c[2]) for c in clips)
    spare = int(seconds * rate) - speech - (len(clips) + 1) * int(min_gap_s * rate)
    if spare < 0:
        raise InputError(f"{len(digits)} digits with {min_gap_s} s pauses need more than {seconds} s")
    shares = rng.dirichlet(np.ones(len(clips) + 1))
    gaps = [int(min_gap_s * rate) + int(share * spare) for share in shares]
    gaps[-1] += int(seconds * rate) - speech - sum(gaps)  # exactly ``seconds`` long
    pieces, truth, at = [], [], 0
    for (digit, name, samples), gap in zip(clips, gaps):
        pieces += [rng.normal(0.0, noise_rms, gap), samples]
        at += gap
        truth.append(SpokenDigit(digit, name, round(at / rate, 3), round((at + len(samples)) / rate, 3)))
        at += len(samples)
    pieces.append(rng.normal(0.0, noise_rms, gaps[-1]))
    return np.concatenate(pieces).astype(np.float32), rate, truth


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recordings", help="the FSDD recordings folder")
    parser.add_argument("out", help="the WAV to write; its digits and times go to the same name with .json")
    parser.add_argument("--digits", default="31415926", help="the digits to say, in order")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    samples, rate, truth = digit_stream(args.recordings, args.digits, args.seconds, seed=args.seed)
    out = write_wav(args.out, samples, rate)
    # {"label", "start_s", "end_s"} rows: the truth `edgernn check --stream --truth` reads
    write_json_atomic(out.with_suffix(".json"), [{"label": d.digit, **vars(d)} for d in truth])
    print(f"{out}: {len(samples) / rate:.2f} s, digits {' '.join(d.digit for d in truth)}")


if __name__ == "__main__":
    main()
