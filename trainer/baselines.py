"""What every trained model is measured against, on the same split: always answering the training
split's most common class, and a linear model that ignores the order of the steps.

A recurrent model that does not beat both has not learned what the data holds, whatever its
parity gates say; the run's report and summary say so in words (``baseline_warnings``).

The linear baseline is scikit-learn's multinomial logistic regression (L2, C=1, lbfgs) on
- feature and audio data: per-channel summary statistics of each case's steps after the front
  end (standardised features, or log-mel frames): mean, std, min, max, first, last, and the mean
  of the last quarter less the mean of the first quarter (a trend): 7 x features inputs,
  standardised on the training split;
- token and text data: a bag of words (token ids), tf-idf weighted with sublinear counts.
"""

from __future__ import annotations

import time

import numpy as np

from edgernn.trainer.data import Encoded

SUMMARY_STATISTICS = ("mean", "std", "min", "max", "first", "last", "trend")
LINEAR_MODELS = {  # what reports and the graph's metadata call them (the module docstring says more)
    "features": "logistic regression on summary statistics",
    "tokens": "logistic regression on tf-idf words",
}


def summary_statistics(data: Encoded) -> np.ndarray:
    """float64 [n, 7 * features]: each case's statistics over its own steps (padding excluded).

    data.x: float32 [n, max_time, features]; lengths int64 [n], each >= 1."""
    x = data.x.numpy().astype(np.float64)
    lengths = data.lengths.numpy()
    rows = []
    for case, length in zip(x, lengths):
        steps = case[:length]
        quarter = max(1, length // 4)
        rows.append(np.concatenate([steps.mean(0), steps.std(0), steps.min(0), steps.max(0), steps[0], steps[-1],
                                    steps[-quarter:].mean(0) - steps[:quarter].mean(0)]))
    return np.stack(rows)


def bag_of_words(data: Encoded, vocab_size: int):
    """scipy.sparse CSR float64 [n, vocab_size]: how often each token id occurs in each case."""
    from scipy import sparse

    ids = data.x.numpy()
    lengths = data.lengths.numpy()
    rows = np.repeat(np.arange(len(lengths)), lengths)
    cols = np.concatenate([case[:length] for case, length in zip(ids, lengths)]) if len(lengths) else np.zeros(0, int)
    return sparse.csr_matrix((np.ones(len(cols)), (rows, cols)), shape=(len(lengths), vocab_size))


def linear_baseline(train: Encoded, test: Encoded, vocab_size: int = 0, seed: int = 0) -> dict:
    """Fit the linear baseline on ``train``; its accuracy on ``test``. vocab_size > 0: token data."""
    from sklearn.feature_extraction.text import TfidfTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    started = time.perf_counter()
    if vocab_size:
        kind = "tokens"
        model = make_pipeline(TfidfTransformer(sublinear_tf=True), LogisticRegression(max_iter=1000, random_state=seed))
        train_x, test_x = bag_of_words(train, vocab_size), bag_of_words(test, vocab_size)
    else:
        kind = "features"
        model = make_pipeline(StandardScaler(), LogisticRegression(max_iter=1000, random_state=seed))
        train_x, test_x = summary_statistics(train), summary_statistics(test)
    y = train.y.numpy()
    if len(np.unique(y)) < 2:  # a training split of one class: the linear model is the majority answer
        predicted = np.full(len(test), y[0] if len(y) else 0)
    else:
        predicted = model.fit(train_x, y).predict(test_x)
    return {"model": LINEAR_MODELS[kind], "accuracy": float((predicted == test.y.numpy()).mean()) if len(test) else 0.0,
            "seconds": round(time.perf_counter() - started, 3)}


def majority_baseline(train: Encoded, test: Encoded, labels: list[str]) -> dict:
    """Always answer the training split's most common class (the first of equals)."""
    counts = np.bincount(train.y.numpy(), minlength=len(labels))
    answer = int(counts.argmax())
    accuracy = float((test.y.numpy() == answer).mean()) if len(test) else 0.0
    return {"label": labels[answer], "accuracy": accuracy}


def baselines(train: Encoded, test: Encoded, labels: list[str], vocab_size: int = 0, seed: int = 0) -> dict:
    """{"majority": {"label", "accuracy"}, "linear": {"model", "accuracy", "seconds"}} on the test split."""
    return {"majority": majority_baseline(train, test, labels),
            "linear": linear_baseline(train, test, vocab_size, seed)}
