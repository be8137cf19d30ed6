"""How well predictions match: accuracy, per-class precision/recall/F1 and the confusion
matrix of a classification (any number of classes), R2/MAE/RMSE of a regression. NumPy only;
precision (recall) is 0 for a class never predicted (present), as scikit-learn's
``zero_division=0``."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

__all__ = ["classification_scores", "format_confusion", "regression_scores", "scores_of"]


def classification_scores(y_true, y_pred, classes: Sequence[str]) -> dict:
    """{"n", "accuracy", "per_class": {name: {precision, recall, f1, support}},
    "macro_f1", "confusion_matrix" (rows: true class, columns: predicted class)}.

    ``macro_f1`` averages the classes that occur among the true or the predicted labels, as
    scikit-learn's ``f1_score(average="macro")`` does: a test set holding some of a model's
    classes is not marked down for the classes it lacks."""
    y_true = np.asarray(y_true).astype(np.int64).ravel()
    y_pred = np.asarray(y_pred).astype(np.int64).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"y_true and y_pred differ in length: {y_true.shape} vs {y_pred.shape}")
    k = len(classes)
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y_true, y_pred), 1)
    tp = np.diag(matrix)
    predicted, present = matrix.sum(axis=0), matrix.sum(axis=1)
    precision = np.divide(tp, predicted, out=np.zeros(k), where=predicted > 0)
    recall = np.divide(tp, present, out=np.zeros(k), where=present > 0)
    total = precision + recall
    f1 = np.divide(2 * precision * recall, total, out=np.zeros(k), where=total > 0)
    seen = (present > 0) | (predicted > 0)
    per_class = {
        str(name): {
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
            "support": int(present[i]),
        }
        for i, name in enumerate(classes)
    }
    return {
        "n": int(y_true.size),
        "accuracy": float(tp.sum() / y_true.size) if y_true.size else 0.0,
        "per_class": per_class,
        "macro_f1": float(f1[seen].mean()) if seen.any() else 0.0,
        "confusion_matrix": matrix.tolist(),
    }


def regression_scores(y_true, y_pred) -> dict:
    """{"n", "r2", "mae", "rmse"}; R2 is 1 - SSE / SST (0 when the targets are constant)."""
    y_true = np.asarray(y_true, dtype=np.float64).ravel()
    y_pred = np.asarray(y_pred, dtype=np.float64).ravel()
    err = y_pred - y_true
    sst = float(np.sum((y_true - y_true.mean()) ** 2)) if y_true.size else 0.0
    sse = float(np.sum(err**2))
    return {
        "n": int(y_true.size),
        "r2": 1.0 - sse / sst if sst > 0 else 0.0,
        "mae": float(np.mean(np.abs(err))) if y_true.size else 0.0,
        "rmse": float(np.sqrt(np.mean(err**2))) if y_true.size else 0.0,
    }


def scores_of(task: str, y_true, y_pred, classes: Sequence[str] | None) -> dict:
    if task == "regression":
        return regression_scores(y_true, y_pred)
    return classification_scores(y_true, y_pred, classes or ())


def format_confusion(matrix, classes) -> str:
    """The confusion matrix as aligned text, rows the true class."""
    names = [str(n) for n in classes]
    width = max(len(n) for n in [*names, "true \\ pred"]) + 2
    lines = ["true \\ pred".ljust(width) + "".join(n.rjust(width) for n in names)]
    for name, row in zip(names, matrix, strict=True):
        lines.append(name.ljust(width) + "".join(str(v).rjust(width) for v in row))
    return "\n".join(lines)


def print_scores(task: str, scores: dict, classes: Sequence[str] | None) -> None:
    """The scores as a command prints them."""
    if task == "regression":
        print(f"R2    {scores['r2']:.4f}")
        print(f"MAE   {scores['mae']:.4g}")
        print(f"RMSE  {scores['rmse']:.4g}")
        return
    print(f"accuracy   {scores['accuracy']:.4f}   (macro F1 {scores['macro_f1']:.4f})")
    width = max(len(str(n)) for n in [*(classes or ()), "class"]) + 2
    print("class".ljust(width) + "precision    recall        F1   support")
    for name, s in scores["per_class"].items():
        print(
            f"{name.ljust(width)}{s['precision']:9.4f} {s['recall']:9.4f} {s['f1']:9.4f}"
            f"{s['support']:9d}"
        )
    print("confusion matrix:")
    print(format_confusion(scores["confusion_matrix"], classes or ()))
