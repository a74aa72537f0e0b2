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
