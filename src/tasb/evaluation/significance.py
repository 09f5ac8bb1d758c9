"""Paired significance over per-query values (``{qid: value}``, as ``evaluate_per_query`` returns), like the paper's marks."""

from __future__ import annotations

import numpy as np
from scipy.stats import ttest_rel


def _shared(a: dict[str, float], b: dict[str, float]) -> tuple[np.ndarray, np.ndarray]:
    # a query one system did not answer has no pair: the test runs over the queries both have
    qids = sorted(a.keys() & b.keys())
    return np.array([a[q] for q in qids], dtype=float), np.array([b[q] for q in qids], dtype=float)


def paired_ttest(a: dict[str, float], b: dict[str, float]) -> float:
    """Two-sided p-value of ``scipy.stats.ttest_rel`` over the queries both share; 1.0 when nothing can differ."""
    x, y = _shared(a, b)
    # identical vectors make ttest_rel divide 0 by 0 (nan); one query leaves no variance to estimate
    if len(x) < 2 or np.array_equal(x, y):
        return 1.0
    return float(ttest_rel(x, y).pvalue)


def better(a: dict[str, float], b: dict[str, float], alpha: float = 0.05) -> bool:
    """Whether ``a`` is significantly better than ``b``: a higher mean over the shared queries and p < ``alpha``."""
    x, y = _shared(a, b)
    return paired_ttest(a, b) < alpha and float(x.mean()) > float(y.mean())
