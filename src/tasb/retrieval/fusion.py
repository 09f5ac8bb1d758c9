"""Fusing ranked lists: score interpolation after per-query normalisation, and reciprocal rank fusion.

Interpolation follows the dense-sparse hybrids of Lin et al. (and the paper's TAS-B + docT5query runs):
each run's scores are normalised per query, a passage a run did not retrieve gets that run's lowest
normalised score (it ranked below everything the run returned), and the weighted sum ranks the union.
Reciprocal rank fusion (Cormack et al., 2009) needs no scores: ``sum_runs w / (k + rank)``.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from tasb.data.records import Run
from tasb.data.scores import checked_weights, normalize_per_query
from tasb.data.writers import ranked
from tasb.errors import InputError

Normalization = Literal["min-max", "z-score"]

__all__ = ["fuse", "interpolate", "reciprocal_rank_fusion"]


def fuse(
    runs: Sequence[Run],
    method: Literal["interpolation", "rrf"],
    weights: Sequence[float] | None = None,
    normalization: Normalization = "min-max",
    rrf_k: int = 60,
) -> Run:
    """:func:`reciprocal_rank_fusion` or :func:`interpolate`, by name; empty ``weights`` weigh the runs alike."""
    if method == "rrf":
        return reciprocal_rank_fusion(runs, weights or None, rrf_k)
    return interpolate(runs, weights or None, normalization)


def interpolate(runs: Sequence[Run], weights: Sequence[float] | None = None, normalization: Normalization = "min-max") -> Run:
    """``sum_i w_i * norm_i(score)`` over the union of each query's passages."""
    weights = _weights(runs, weights)
    normalized = [_min_max(run) if normalization == "min-max" else normalize_per_query(run) for run in runs]
    fused: Run = {}
    for qid in _queries(runs):
        lists = [run.get(qid, {}) for run in normalized]
        floors = [min(scores.values()) if scores else 0.0 for scores in lists]
        pids = dict.fromkeys(pid for scores in lists for pid in scores)
        fused[qid] = {
            pid: sum(w * scores.get(pid, floor) for w, scores, floor in zip(weights, lists, floors)) for pid in pids
        }
    return fused


def reciprocal_rank_fusion(runs: Sequence[Run], weights: Sequence[float] | None = None, k: int = 60) -> Run:
    """``sum_i w_i / (k + rank_i)`` with 1-based ranks; a run that did not retrieve a passage adds nothing."""
    if k < 0:
        raise InputError("rrf_k", "a non-negative constant k", str(k))
    weights = _weights(runs, weights)
    fused: Run = {}
    for qid in _queries(runs):
        scores: dict[str, float] = {}
        for weight, run in zip(weights, runs):
            for rank, (pid, _) in enumerate(ranked(run.get(qid, {})), start=1):
                scores[pid] = scores.get(pid, 0.0) + weight / (k + rank)
        fused[qid] = scores
    return fused


def _weights(runs: Sequence[Run], weights: Sequence[float] | None) -> list[float]:
    if len(runs) < 2:
        raise InputError("runs", "at least two runs to fuse", f"{len(runs)}")
    return checked_weights(weights, len(runs), "run")


def _queries(runs: Sequence[Run]) -> list[str]:
    # a query one run missed is still fused from the others
    return sorted({qid for run in runs for qid in run})


def _min_max(run: Run) -> Run:
    """Each query's scores mapped onto [0, 1]; a query whose passages all score the same maps to 1."""
    normalized = {}
    for qid, scores in run.items():
        values = np.fromiter(scores.values(), dtype=np.float64, count=len(scores))
        spread = values.max() - values.min() if len(values) else 0.0
        mapped = (values - values.min()) / spread if spread > 0 else np.ones_like(values)
        normalized[qid] = dict(zip(scores, mapped.tolist()))
    return normalized
