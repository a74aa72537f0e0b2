"""WAV input: single files and folders of labelled recordings (standard library ``wave`` + numpy).

Only uncompressed PCM is read (8, 16, 24 or 32 bit integers); channels are mixed down to mono
by their mean and samples scaled to [-1, 1). Every file of a data set must share one sample rate:
a file at another rate is refused, naming both rates, rather than resampled behind the user's back.

Folder layouts (``read_wav_folder``):
- one sub-folder per class (``root/<label>/*.wav``), or
- any files under ``root`` with the label taken from each file name by ``label_regex`` (its
  first group, else the whole match), e.g. ``'^(\\d)_'`` for the Free Spoken Digit Dataset.
``test_regex`` (searched in the file name) moves matching files to the test split.

The Speech Commands layout (one sub-folder per word, ``testing_list.txt`` and
``validation_list.txt`` beside them naming files relative to ``root``) is honoured when no
pattern is given: the files of the testing list are the test split, those of the validation list
the validation cases (``SequenceSet.validation``), and ``_background_noise_`` (long noise
recordings, no class) is left out.
"""

from __future__ import annotations

import io
import re
import wave
from pathlib import Path

import numpy as np

from edgernn.runtime.files import write_bytes_atomic
from edgernn.runtime.datasets import SequenceSet, sorted_labels
from edgernn.runtime.errors import DataFormatError, InputError

WAV_SUFFIX = ".wav"
TESTING_LIST, VALIDATION_LIST = "testing_list.txt", "validation_list.txt"
NOISE_FOLDER = "_background_noise_"  # Speech Commands: noise recordings, not a class
_PCM_DTYPES = {1: np.uint8, 2: np.int16, 4: np.int32}


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """One PCM WAV file -> (float32 [n] mono samples in [-1, 1), sample rate in Hz)."""
    return _read_pcm(str(path), Path(path))


def read_wav_bytes(data: bytes, name: str = "WAV data") -> tuple[np.ndarray, int]:
    """A whole PCM WAV file held in memory (an upload) -> as ``read_wav``; ``name`` is for messages."""
    return _read_pcm(io.BytesIO(data), name)


def _read_pcm(source: str | io.BytesIO, path: Path | str) -> tuple[np.ndarray, int]:
    try:
        with wave.open(source, "rb") as reader:
            channels, width, rate, frames = (reader.getnchannels(), reader.getsampwidth(),
                                             reader.getframerate(), reader.getnframes())
            data = reader.readframes(frames)
    except FileNotFoundError:
        raise DataFormatError(f"{path}: no such file") from None
    except (wave.Error, EOFError, OSError) as exc:
        raise DataFormatError(f"{path}: not a PCM WAV file ({exc}); expected uncompressed 8/16/24/32-bit PCM") from None
    if width not in (1, 2, 3, 4) or channels < 1 or rate < 1:
        raise DataFormatError(f"{path}: unsupported WAV layout ({channels} channels, {8 * width}-bit, {rate} Hz)")
    if len(data) < frames * channels * width:
        raise DataFormatError(f"{path}: truncated: the header declares {frames} frames, "
                              f"the file holds {len(data) // (channels * width)}")
    return _decode_pcm(data, width).reshape(-1, channels).mean(axis=1, dtype=np.float64).astype(np.float32), rate


def write_wav(path: str | Path, samples: np.ndarray, rate: int) -> Path:
    """Write float [n] mono samples in [-1, 1] as 16-bit PCM, atomically (values beyond are clipped)."""
    if samples.ndim != 1 or not np.issubdtype(samples.dtype, np.floating):
        raise InputError(f"write_wav: expected float mono samples [n], got {samples.dtype} {list(samples.shape)}")
    pcm = np.round(np.clip(samples.astype(np.float64), -1.0, 32767 / 32768) * 32768).astype("<i2")
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as writer:
        writer.setnchannels(1)
        writer.setsampwidth(2)
        writer.setframerate(int(rate))
        writer.writeframes(pcm.tobytes())
    return write_bytes_atomic(path, buffer.getvalue())


def _decode_pcm(data: bytes, width: int) -> np.ndarray:
    """Little-endian PCM bytes -> float64 samples in [-1, 1)."""
    if width == 3:  # 24-bit: widen each sample to 32 bits, sign from the top byte
        raw = np.frombuffer(data, dtype=np.uint8).reshape(-1, 3)
        wide = np.zeros((len(raw), 4), dtype=np.uint8)
        wide[:, 1:] = raw
        return wide.view("<i4").ravel().astype(np.float64) / 2.0 ** 31
    values = np.frombuffer(data, dtype=np.dtype(_PCM_DTYPES[width]).newbyteorder("<")).astype(np.float64)
    if width == 1:  # 8-bit WAV is unsigned, centred on 128
        return (values - 128.0) / 128.0
    return values / 2.0 ** (8 * width - 1)


def read_wav_folder(root: str | Path, label_regex: str | None = None,
                    test_regex: str | None = None) -> tuple[SequenceSet, SequenceSet | None]:
    """Every ``*.wav`` under ``root`` -> (training split, test split or None when no ``test_regex``).

    Raises DataFormatError for a folder without WAV files, a file whose name the label pattern
    does not match, mixed sample rates, or an unreadable file; InputError for a bad pattern.
    """
    root = Path(root)
    files = sorted(p for p in root.rglob("*") if p.suffix.lower() == WAV_SUFFIX and p.is_file())
    listed = speech_commands_lists(root) if label_regex is None and test_regex is None else None
    if listed is not None:
        files = [p for p in files if p.relative_to(root).parts[0] != NOISE_FOLDER]
    if not files:
        raise DataFormatError(f"{root}: no .wav files in this folder")
    label_pattern, test_pattern = _compile(label_regex, "--label-regex"), _compile(test_regex, "--test-regex")
    validation_files: set[str] = set()
    splits: dict[bool, tuple[list, list]] = {False: ([], []), True: ([], [])}
    train_names: list[str] = []
    first_rate: tuple[int, Path] | None = None
    for path in files:
        samples, rate = read_wav(path)
        if first_rate is None:
            first_rate = (rate, path)
        elif rate != first_rate[0]:
            raise DataFormatError(f"{path}: {rate} Hz, but {first_rate[1].name} is {first_rate[0]} Hz; "
                                  "every file of a data set must share one sample rate (resample them first)")
        label = _label_of(path, root, label_pattern)
        relative = path.relative_to(root).as_posix()
        if listed is not None:
            is_test = relative in listed[0]
            if relative in listed[1] and not is_test:
                validation_files.add(relative)
        else:
            is_test = bool(test_pattern and test_pattern.search(path.name))
        splits[is_test][0].append(samples)
        splits[is_test][1].append(label)
        if not is_test:
            train_names.append(relative)
    rate = first_rate[0]
    name = root.resolve().name

    def split(is_test: bool, suffix: str) -> SequenceSet:
        sequences, labels = splits[is_test]
        if not sequences:
            raise DataFormatError(f"{root}: the {suffix} split is empty (check --test-regex {test_regex!r})")
        return SequenceSet(sequences, labels, sorted_labels(set(labels)), name, str(root), sample_rate=rate)

    if listed is not None:
        train_set = split(False, "training")
        train_set.validation = np.array([i for i, n in enumerate(train_names) if n in validation_files], dtype=np.int64)
        return train_set, split(True, f"test ({TESTING_LIST})")
    if test_pattern is None:
        return split(False, "training"), None
    return split(False, "training"), split(True, "test")


def speech_commands_lists(root: Path) -> tuple[set[str], set[str]] | None:
    """(files of testing_list.txt, files of validation_list.txt), paths relative to ``root`` with
    forward slashes; None when ``root`` holds no testing_list.txt. A listed file that is not
    there raises DataFormatError naming it and the list."""
    if not (root / TESTING_LIST).is_file():
        return None
    lists = []
    for name in (TESTING_LIST, VALIDATION_LIST):
        path = root / name
        entries = {line.strip().replace("\\", "/") for line in path.read_text(errors="replace").splitlines()
                   if line.strip()} if path.is_file() else set()
        missing = sorted(e for e in entries if not (root / e).is_file())
        if missing:
            raise DataFormatError(f"{path}: lists {len(missing)} file(s) not under {root}, e.g. {missing[0]!r}")
        lists.append(entries)
    if not lists[0]:
        raise DataFormatError(f"{root / TESTING_LIST}: lists no files")
    return lists[0], lists[1]


def _compile(pattern: str | None, option: str) -> re.Pattern | None:
    if pattern is None:
        return None
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise InputError(f"{option}: not a valid regular expression ({exc})") from None


def _label_of(path: Path, root: Path, pattern: re.Pattern | None) -> str:
    if pattern is None:
        parts = path.relative_to(root).parts
        if len(parts) < 2:
            raise DataFormatError(f"{path}: lies directly in {root}; expected one sub-folder per class, "
                                  "or pass --label-regex to take the label from the file name")
        return parts[0]
    match = pattern.search(path.name)
    if match is None:
        raise DataFormatError(f"{path.name}: the label pattern {pattern.pattern!r} does not match this file name")
    return match.group(1) if pattern.groups else match.group(0)
