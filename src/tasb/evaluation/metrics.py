"""Thin wrapper over ir-measures, reporting under plain names (``nDCG@10``, ``RR@10``, ``R@1000``).

nDCG uses the graded labels with trec_eval's linear gain. RR and recall count a passage relevant from
grade ``rel`` up: TREC-DL's convention (and the paper's) is ``rel=2``; binary collections use 1.
"""

from __future__ import annotations

import ir_measures
from ir_measures import RR, R, nDCG

from tasb.data.records import Qrels, Run
from tasb.errors import InputError

DEFAULT_MEASURES = ("nDCG@10", "RR@10", "R@100", "R@1000")
RECALL_CUTOFFS = (10, 20, 50, 100, 200, 500, 1000)


def _measure(name: str, rel: int):
    kind, _, cutoff = name.partition("@")
    depth = int(cutoff) if cutoff else None
    if kind == "nDCG":
        return nDCG @ depth if depth else nDCG
    if kind == "RR":
        return RR(rel=rel) @ depth if depth else RR(rel=rel)
    if kind == "R":
        if depth is None:
            raise ValueError("recall needs a cut-off, e.g. R@1000")
        return R(rel=rel) @ depth
    raise ValueError(f"unknown measure {name!r}; known: nDCG@k, RR@k, R@k")


def check_measures(names, key: str) -> None:
    """Refuse an unknown measure name up front, before the work whose results it would score."""
    for name in names:
        try:
            _measure(name, rel=1)
        except ValueError as err:
            raise InputError("config", f"{key}: measures like nDCG@10, RR@10, R@1000 ({err})", name) from None


def _measures(names, rel: int) -> dict:
    return {_measure(name, rel): name for name in names}


def evaluate(run: Run, qrels: Qrels, rel: int = 1, measures=DEFAULT_MEASURES) -> dict[str, float]:
    """Mean of each measure over the queries that are both judged and in the run (trec_eval without -c)."""
    wanted = _measures(measures, rel)
    results = ir_measures.calc_aggregate(list(wanted), qrels, run)
    return {wanted[m]: float(results[m]) for m in wanted}


def evaluate_per_query(run: Run, qrels: Qrels, rel: int = 1, measures=DEFAULT_MEASURES) -> dict[str, dict[str, float]]:
    """``{measure: {qid: value}}``, for significance tests and per-query reports."""
    wanted = _measures(measures, rel)
    out: dict[str, dict[str, float]] = {name: {} for name in wanted.values()}
    for metric in ir_measures.iter_calc(list(wanted), qrels, run):
        out[wanted[metric.measure]][metric.query_id] = float(metric.value)
    return out


def recall_at_cutoffs(run: Run, qrels: Qrels, rel: int = 1) -> dict[int, float]:
    """Recall at the paper's Figure 3 cut-offs, up to the run's depth: ``{cutoff: recall}``."""
    depth = max((len(ranking) for ranking in run.values()), default=0)
    # recall past a run's depth would only repeat its last value and look like a plateau
    cutoffs = [c for c in RECALL_CUTOFFS if c <= depth]
    if not cutoffs:
        return {}
    values = evaluate(run, qrels, rel=rel, measures=[f"R@{c}" for c in cutoffs])
    return {c: values[f"R@{c}"] for c in cutoffs}
