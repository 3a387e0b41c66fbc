"""How a score is judged on a validation cutoff: AUC, PR-AUC, Brier, calibration, lift."""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

# --------------------------------------------------------------------------- metrics


def deciles(scores: np.ndarray) -> np.ndarray:
    """Decile 1..10 by score, 1 = the highest-scoring tenth (ties broken by position)."""
    scores = np.asarray(scores, dtype=float)
    n = len(scores)
    if n == 0:
        return np.zeros(0, dtype=int)
    order = np.argsort(-scores, kind="stable")
    rank = np.empty(n, dtype=int)
    rank[order] = np.arange(n)
    return (rank * 10 // n + 1).astype(int)


def lift_table(y: np.ndarray, scores: np.ndarray) -> list[dict[str, float]]:
    """Per decile (1 = highest scores): customers, positives, rate, lift over the base
    rate and the cumulative share of all positives captured."""
    y = np.asarray(y, dtype=float)
    d = deciles(scores)
    base = y.mean() if len(y) else 0.0
    total = y.sum()
    out, captured = [], 0.0
    for k in range(1, 11):
        m = d == k
        pos = float(y[m].sum())
        captured += pos
        rate = pos / m.sum() if m.sum() else 0.0
        out.append(
            {
                "decile": k,
                "customers": int(m.sum()),
                "positives": int(pos),
                "rate": rate,
                "lift": rate / base if base else 0.0,
                "cumulative_capture": captured / total if total else 0.0,
            }
        )
    return out


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over equal-width probability bins."""
    y, p = np.asarray(y, dtype=float), np.asarray(p, dtype=float)
    idx = np.minimum((p * bins).astype(int), bins - 1)
    err = 0.0
    for b in range(bins):
        m = idx == b
        if m.any():
            err += m.mean() * abs(y[m].mean() - p[m].mean())
    return float(err)


def evaluate(y: np.ndarray, p: np.ndarray) -> dict[str, Any]:
    """AUC, PR-AUC (average precision), Brier score, calibration error, base rate, lift."""
    y = np.asarray(y, dtype=int)
    both = 0 < y.sum() < len(y)
    return {
        "auc": float(roc_auc_score(y, p)) if both else float("nan"),
        "pr_auc": float(average_precision_score(y, p)) if both else float("nan"),
        "brier": float(brier_score_loss(y, p)),
        "ece": calibration_error(y, p),
        "base_rate": float(y.mean()),
        "rows": int(len(y)),
        "mean_score": float(np.mean(p)),
        "lift": lift_table(y, p),
        "top_decile_lift": lift_table(y, p)[0]["lift"],
    }
