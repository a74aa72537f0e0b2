"""Word vectors in the word2vec / GloVe text format, to initialise a text model's embedding.

Each line holds a word and its vector, separated by spaces: ``word 0.12 -0.3 ...``. A first line
of two integers (word2vec's ``count dimension`` header) is skipped. Every vector must have the
same dimension. Only the words of the model's vocabulary are kept; the rest of the embedding
(unknown words, padding, words the file lacks) keeps its random initialisation.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from edgernn.runtime.files import write_bytes_atomic
from edgernn.runtime.errors import DataFormatError
from edgernn.runtime.text import Vocabulary


def read_word_vectors(path: str | Path, vocabulary: Vocabulary) -> tuple[np.ndarray, np.ndarray]:
    """(float32 [len(vocabulary), dim] vectors, bool [len(vocabulary)] found) for the vocabulary's
    words; rows not found are zero. Raises DataFormatError naming the file and line."""
    path = Path(path)
    if not path.is_file():
        raise DataFormatError(f"{path}: no such word-vector file")
    wanted = {word: i for i, word in enumerate(vocabulary.words)}
    vectors, found, dim = None, np.zeros(len(vocabulary), dtype=bool), None
    with open(path, encoding="utf-8", errors="replace") as handle:
        for number, line in enumerate(handle, start=1):
            parts = line.rstrip("\n").rstrip(" ").split(" ")
            if number == 1 and len(parts) == 2 and all(p.isdigit() for p in parts):
                continue  # word2vec header: count and dimension
            if len(parts) < 2:
                if line.strip():
                    raise DataFormatError(f"{path}:{number}: expected a word and its vector, got {line[:60]!r}")
                continue
            if dim is None:
                dim = len(parts) - 1
                vectors = np.zeros((len(vocabulary), dim), dtype=np.float32)
            elif len(parts) - 1 != dim:
                raise DataFormatError(f"{path}:{number}: a vector of {len(parts) - 1} values; the file's first has {dim}")
            index = wanted.get(parts[0])
            if index is None or found[index]:
                continue
            try:
                vectors[index] = np.asarray(parts[1:], dtype=np.float32)
            except ValueError:
                raise DataFormatError(f"{path}:{number}: the vector of {parts[0]!r} holds a value that is not a number") from None
            found[index] = True
    if vectors is None:
        raise DataFormatError(f"{path}: the file holds no word vectors")
    return vectors, found


def write_word_vectors(path: str | Path, vocabulary: Vocabulary, vectors: np.ndarray) -> Path:
    """Write float [len(vocabulary), dim] vectors in word2vec's text format (a ``count dim`` header,
    then ``word v1 v2 ...`` per line; the padding and unknown ids are left out), atomically."""
    rows = [f"{word} {' '.join(f'{v:.6g}' for v in vector)}" for word, vector in zip(vocabulary.words[2:], vectors[2:])]
    text = f"{len(rows)} {vectors.shape[1]}\n" + "\n".join(rows) + "\n"
    return write_bytes_atomic(path, text.encode("utf-8"))


def initialise_embedding(embedding: torch.nn.Embedding, vectors: np.ndarray, found: np.ndarray) -> None:
    """Copy the vectors found into the embedding's rows, rescaled so their spread matches the
    random initialisation of the rest (the file's scale is arbitrary: GloVe's values are ~0.4,
    trained models' vary)."""
    if vectors.shape[1] != embedding.embedding_dim:
        raise DataFormatError(f"the word vectors have {vectors.shape[1]} dimensions; the model's embedding has "
                              f"{embedding.embedding_dim} (pass --embed-dim {vectors.shape[1]})")
    if not found.any():
        return
    with torch.no_grad():
        weight = embedding.weight
        chosen = torch.from_numpy(vectors[found])
        scale = float(weight.std()) / max(float(chosen.std()), 1e-8)
        weight[torch.from_numpy(found)] = chosen * scale


def train_word_vectors(documents: list[np.ndarray], vocab_size: int, dim: int, epochs: int = 3, window: int = 5,
                       negatives: int = 5, batch_size: int = 4096, lr: float = 5e-3, subsample: float = 1e-4,
                       seed: int = 0, log=None) -> np.ndarray:
    """Skip-gram word vectors with negative sampling (word2vec's objective), from documents of
    word ids (each int64 [n]; ids 0 and 1, padding and unknown, are left out).

    Each epoch: frequent words are dropped at random (word2vec's subsampling with threshold
    ``subsample``); every word predicts the words within a random 1..``window`` of it in its own
    document, each pair against ``negatives`` words drawn from the unigram distribution to the
    power 0.75; SparseAdam on shuffled batches. Returns float32 [vocab_size, dim], the input
    vectors. Deterministic for a seed.
    """
    rng = np.random.default_rng(seed)
    generator = torch.Generator().manual_seed(seed)
    counts = np.bincount(np.concatenate(documents), minlength=vocab_size).astype(np.float64)
    counts[:2] = 0
    frequency = counts / max(counts.sum(), 1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        keep = np.where(frequency > 0, np.minimum(1.0, np.sqrt(subsample / frequency) + subsample / frequency), 0.0)
    # negatives are drawn from a table of word ids laid out in proportion to count^0.75
    table = torch.multinomial(torch.from_numpy(counts ** 0.75), NOISE_TABLE, replacement=True, generator=generator)
    words_in = torch.nn.Embedding(vocab_size, dim, sparse=True)
    words_out = torch.nn.Embedding(vocab_size, dim, sparse=True)
    with torch.no_grad():
        words_in.weight.uniform_(-0.5 / dim, 0.5 / dim, generator=generator)
        words_out.weight.zero_()
    optimizer = torch.optim.SparseAdam([words_in.weight, words_out.weight], lr=lr)
    separator = np.zeros(window, dtype=np.int64)  # padding between documents: no pair crosses one
    for epoch in range(1, epochs + 1):
        centre, context = _pairs(rng, [doc[rng.random(len(doc)) < keep[doc]] for doc in documents], separator, window)
        order = torch.randperm(len(centre), generator=generator)
        total = 0.0
        for start in range(0, len(order), batch_size):
            index = order[start:start + batch_size]
            u, v = words_in(centre[index]), words_out(context[index])                    # [B, d]
            noise = words_out(table[torch.randint(0, NOISE_TABLE, (len(index), negatives), generator=generator)])  # [B, K, d]
            loss = -(torch.nn.functional.logsigmoid((u * v).sum(dim=1)).mean()
                     + torch.nn.functional.logsigmoid(-torch.bmm(noise, u.unsqueeze(2)).squeeze(2)).sum(dim=1).mean())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.item() * len(index)
        if log is not None:
            log(f"word vectors: epoch {epoch}/{epochs}, {len(centre)} pairs, loss {total / max(len(centre), 1):.4f}")
    return words_in.weight.detach().numpy().copy()


NOISE_TABLE = 1_000_000  # entries of the negative-sampling table


def _pairs(rng: np.random.Generator, documents: list[np.ndarray], separator: np.ndarray, window: int):
    """(centre ids, context ids) int64 tensors: every pair within each centre's random window."""
    corpus = np.concatenate([part for doc in documents for part in (doc, separator)])
    reach = rng.integers(1, window + 1, size=len(corpus))  # each centre word's window this epoch
    centres, contexts = [], []
    for distance in range(1, window + 1):
        left, right = corpus[:-distance], corpus[distance:]
        ok = (left > 1) & (right > 1)
        forward = ok & (reach[:-distance] >= distance)
        backward = ok & (reach[distance:] >= distance)
        centres += [left[forward], right[backward]]
        contexts += [right[forward], left[backward]]
    return torch.from_numpy(np.concatenate(centres)), torch.from_numpy(np.concatenate(contexts))
