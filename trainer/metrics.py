"""Classification metrics from integer labels (numpy only)."""

from __future__ import annotations

import numpy as np


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, labels: list[str]) -> dict:
    """Accuracy, per-class precision/recall/F1/support, macro F1 and the confusion matrix.

    y_true, y_pred: int [n] indices into ``labels``. confusion[i][j] counts true i predicted j.
    """
    k = len(labels)
    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (y_true, y_pred), 1)
    true_pos = np.diag(confusion).astype(np.float64)
    predicted = confusion.sum(axis=0)
    support = confusion.sum(axis=1)
    precision = np.divide(true_pos, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(true_pos, support, out=np.zeros(k), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros(k), where=denom > 0)
    per_class = [
        {"label": labels[i], "precision": round(float(precision[i]), 4), "recall": round(float(recall[i]), 4),
         "f1": round(float(f1[i]), 4), "support": int(support[i])}
        for i in range(k)
    ]
    present = support > 0
    return {
        "accuracy": float(true_pos.sum() / max(len(y_true), 1)),
        "macro_f1": round(float(f1[present].mean()) if present.any() else 0.0, 4),
        "per_class": per_class,
        "confusion": confusion.tolist(),
        "cases": int(len(y_true)),
    }
