"""Thin wrapper over ir-measures, reporting under the names asked for (``nDCG@10``, ``RR@10``, ``R@1000``, ...).

nDCG uses the graded labels with trec_eval's linear gain. RR, recall and every other measure that takes a grade
count a passage relevant from grade ``rel`` up: TREC-DL's convention (and the paper's) is ``rel=2``; binary
collections use 1.
"""

from __future__ import annotations

import ir_measures

from tasb.config.sections import DEFAULT_MEASURES
from tasb.data.records import Qrels, Run
from tasb.errors import InputError

RECALL_CUTOFFS = (10, 20, 50, 100, 200, 500, 1000)
KNOWN = "nDCG@10, RR@10, R@1000, AP, P@10, RR(rel=2)@10"


def _measure(name: str, rel: int):
    """``name`` as ir-measures parses it (``nDCG@10``, ``RR@10``, ``R@1000``, ``AP``, ``P@10``, ``RR(rel=2)@10``, ...),
    counting a passage relevant from grade ``rel`` up wherever the measure takes a grade and ``name`` gives none."""
    try:
        measure = ir_measures.parse_measure(name)
    except (NameError, ValueError, TypeError, SyntaxError):
        raise ValueError(f"unknown measure {name!r}; ir-measures names such as {KNOWN}") from None
    if "rel" in measure.SUPPORTED_PARAMS and "rel" not in measure.params:
        measure = measure(rel=rel)
    return measure


def check_measures(names, key: str) -> None:
    """Refuse an unknown measure name up front, naming the setting, before the work whose results it would score."""
    for name in names:
        try:
            _measure(name, rel=1)
        except ValueError:
            raise InputError(key, f"ir-measures names such as {KNOWN}", name) from None


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
