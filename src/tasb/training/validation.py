"""Approximate-retrieval early stopping (paper Sec. 4.3).

A few judged training queries are held out from training. Their candidates are a baseline's top-k joined
with their relevant passages, so the student re-ranks a small set instead of searching the whole corpus
while its ranking still reflects first-stage quality: a relevant passage the baseline missed is there to
be found, and the baseline's near misses are there to be confused with it.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import statistics
from pathlib import Path
from typing import Iterable

import numpy as np

from tasb.config import ValidationConfig
from tasb.data.readers import iter_lines, read_run
from tasb.data.records import Corpus, Dataset, Qrels, Queries, Run
from tasb.data.scores import ensemble
from tasb.errors import InputError
from tasb.evaluation import evaluate, evaluate_per_query
from tasb.evaluation.significance import paired_ttest
from tasb.models.student import BertDot
from tasb.retrieval.bm25 import BM25
from tasb.retrieval.scorers import DotScorer, Scorer

__all__ = [
    "EarlyStopping", "ValidationSet", "WeightFit", "best_weights", "build_validation_set", "ensemble_per_query", "leave_one_out", "mean",
    "read_validation_qids", "scorer_validation_score", "top_and_judged", "validation_score", "weight_grid",
]


@dataclasses.dataclass(frozen=True)
class ValidationSet:
    """Held-out queries, their judgments, and the passages the student re-ranks for each."""

    queries: Queries
    qrels: Qrels
    candidates: dict[str, list[str]]
    corpus: Corpus


def held_out_size(judged_queries: int) -> int:
    """Held-out queries for a collection with this many judged training queries: a tenth, 20 to 100 of them.

    Fewer than 20 cannot tell a better model from a worse one; past 100 the rest teach more than they measure.
    A collection too small to spare 20 while keeping 4 in 5 for training holds out a fifth.
    """
    if judged_queries < 5:
        return 0
    return max(1, judged_queries // 5) if judged_queries < 100 else min(100, max(20, round(judged_queries / 10)))


def build_validation_set(config: ValidationConfig, dataset: Dataset, scored_qids: Iterable[str]) -> ValidationSet:
    """Hold out ``config.queries`` judged queries among ``scored_qids`` (or those in ``config.qids``) with their candidates."""
    scored = sorted(set(scored_qids))
    qids = read_validation_qids(Path(config.qids), dataset, config.rel) if config.qids else _draw_qids(config, dataset, scored)
    queries = {qid: dataset.queries[qid] for qid in qids}
    candidates = top_and_judged(_baseline_run(config, dataset, queries), dataset, qids, config.rerank_depth, config.rel)
    return ValidationSet(queries, {qid: dataset.qrels[qid] for qid in qids}, candidates, dataset.corpus)


def top_and_judged(run: Run, dataset: Dataset, qids: Iterable[str], depth: int, rel: int) -> dict[str, list[str]]:
    """Each query's top-``depth`` passages of ``run``, then its passages of the corpus judged ``rel`` or higher."""
    candidates = {}
    for qid in qids:
        top = sorted(run.get(qid, {}).items(), key=lambda item: -item[1])[:depth]
        judged = [pid for pid, grade in dataset.qrels[qid].items() if grade >= rel and pid in dataset.corpus]
        candidates[qid] = list(dict.fromkeys([pid for pid, _ in top] + judged))
    return candidates


def _draw_qids(config: ValidationConfig, dataset: Dataset, scored: list[str]) -> list[str]:
    judged = [qid for qid in scored if any(g >= config.rel for g in dataset.qrels.get(qid, {}).values())]
    if config.queries >= len(judged):
        raise InputError(
            "config", f"validation.queries below the {len(judged)} judged scored queries (the rest train)", str(config.queries)
        )
    rng = np.random.default_rng(config.seed)
    return sorted(rng.choice(judged, size=config.queries, replace=False).tolist())


def read_validation_qids(path: Path, dataset: Dataset, rel: int = 1) -> list[str]:
    """The query ids of ``path``, one per line, each a query of ``dataset`` with a passage judged ``rel`` or higher."""
    qids = []
    for number, line in iter_lines(path):
        qid = line.strip()
        if not qid:
            continue
        if qid not in dataset.queries or not any(g >= rel for g in dataset.qrels.get(qid, {}).values()):
            raise InputError(path, f"a training query id with a passage judged {rel} or higher", qid, line=number)
        qids.append(qid)
    if not qids:
        raise InputError(path, "at least one query id, one per line", "an empty file")
    return list(dict.fromkeys(qids))


def _baseline_run(config: ValidationConfig, dataset: Dataset, queries: Queries) -> Run:
    if not config.run:
        return BM25(dataset.corpus).search(queries, k=config.rerank_depth)
    run = read_run(config.run)
    missing = sorted(set(queries) - set(run))
    if missing:
        raise InputError(config.run, "a ranking for every held-out validation query", f"none for query {missing[0]}")
    unknown = sorted({pid for qid in queries for pid in run[qid]} - set(dataset.corpus))
    if unknown:
        raise InputError(config.run, "passage ids of the training corpus", unknown[0])
    return run


def validation_score(student: BertDot, validation: ValidationSet, metric: str, rel: int, bf16: bool = True) -> float:
    return scorer_validation_score(DotScorer(student, bf16=bf16, name="validation"), validation, metric, rel)


def scorer_validation_score(scorer: Scorer, validation: ValidationSet, metric: str, rel: int) -> float:
    """``validation_score`` of any scorer: a bi-encoder holding an index's passage vectors scores what the trainer
    would (up to bf16 rounding: the index batched its passages differently), without encoding the candidates again."""
    scores = scorer.score(validation.candidates, validation.queries, validation.corpus)
    return evaluate(scores, validation.qrels, rel=rel, measures=[metric])[metric]


WEIGHT_GRID = (0.0, 0.25, 0.5, 1.0)


def weight_grid(
    scores: dict[str, Run], qrels: Qrels, metric: str, rel: int, grid: Iterable[float] = WEIGHT_GRID
) -> list[tuple[dict[str, float], dict[str, float]]]:
    """Every ensemble of the members' scores with weights from ``grid``, each member alone included, with its
    ``metric`` per query.

    Weights are relative, so only weightings whose largest weight is the grid's largest are listed; a member
    weighted 0 is left out."""
    grid = sorted(set(grid))
    found = []
    for weights in itertools.product(grid, repeat=len(scores)):
        if max(weights) != grid[-1]:
            continue
        chosen = {name: w for name, w in zip(scores, weights) if w > 0}
        found.append((chosen, ensemble_per_query(scores, chosen, qrels, metric, rel)))
    return found


def ensemble_per_query(scores: dict[str, Run], weights: dict[str, float], qrels: Qrels, metric: str, rel: int) -> dict[str, float]:
    """``metric`` of each query, its members' scores ensembled at ``weights`` (per-query z-scores, as the teacher's)."""
    fused = ensemble([scores[name] for name in weights], list(weights.values()))
    return evaluate_per_query(fused, qrels, rel=rel, measures=[metric])[metric]


def mean(per_query: dict[str, float]) -> float:
    return statistics.fmean(per_query.values())


@dataclasses.dataclass(frozen=True)
class WeightFit:
    """The weights chosen on held-out queries, beside the weights as set and the best weighting of the grid.

    ``value`` is the chosen teacher's held-out score: the weights as set score it directly; fitted weights by
    ``cross_validated``, since their own score on the queries that chose them reads high (``best_value``)."""

    weights: dict[str, float]
    value: float
    prior: dict[str, float]
    prior_value: float
    best: dict[str, float]
    best_value: float
    cross_validated: float  # the fit's leave-one-out score: each query judged by the weighting the others chose
    p: float  # paired t-test, cross_validated vs prior, over the held-out queries

    @property
    def replaced(self) -> bool:
        return self.weights != self.prior

    @property
    def best_is_prior(self) -> bool:
        """Whether the grid's best is the weights as set: weights are relative, so 2 × x is the grid's 1 × x."""
        return _relative(self.best) == _relative(self.prior)


def _relative(weights: dict[str, float]) -> dict[str, float]:
    """The weighting with its largest weight 1, as :func:`weight_grid` lists weightings."""
    top = max(weights.values())
    return {name: round(weight / top, 9) for name, weight in weights.items()}


def leave_one_out(found: list[tuple[dict[str, float], dict[str, float]]]) -> dict[str, float]:
    """Each query's score under the weighting the other queries rank best: what choosing the grid's best is worth
    on a query it was not chosen on. Ties go to the weighting listed first, as the best's do: the others' sums are
    exact (``math.fsum``), so a query's own score never breaks a tie between weightings equal on the others."""
    qids = list(found[0][1])

    def others(per_query: dict[str, float], left_out: str) -> float:
        return math.fsum(per_query[qid] for qid in qids if qid != left_out)

    return {qid: found[max(range(len(found)), key=lambda i: others(found[i][1], qid))][1][qid] for qid in qids}


def best_weights(
    scores: dict[str, Run], qrels: Qrels, metric: str, rel: int, prior: dict[str, float], grid: Iterable[float] = WEIGHT_GRID
) -> WeightFit:
    """The best weighting of ``weight_grid``, when choosing it beats ``prior`` on queries it was not chosen on.

    The best of many weightings on a few held-out queries is partly luck: on a SciFact quickstart (b7b33ff) the
    best validated .817 against the weights as set's .799 (p .028), and .789 left out of its own choice. So the choice
    is judged by leave-one-out (:func:`leave_one_out`), and ``prior`` (its members with a positive weight) stays
    unless that beats it by a paired t-test over the held-out queries (p < .05)."""
    found = weight_grid(scores, qrels, metric, rel, grid)
    best, best_scores = max(found, key=lambda item: mean(item[1]))
    prior = {name: w for name, w in prior.items() if w > 0}
    prior_scores = ensemble_per_query(scores, prior, qrels, metric, rel)
    cross_validated = leave_one_out(found)
    p = paired_ttest(cross_validated, prior_scores)
    replace = best != prior and mean(cross_validated) > mean(prior_scores) and p < 0.05
    chosen, value = (best, mean(cross_validated)) if replace else (prior, mean(prior_scores))
    return WeightFit(chosen, value, prior, mean(prior_scores), best, mean(best_scores), mean(cross_validated), p)


@dataclasses.dataclass
class EarlyStopping:
    """The best validation score so far and how many evaluations have passed without beating it."""

    patience: int
    best_value: float | None = None
    best_step: int | None = None
    evaluations: int = 0
    since_best: int = 0
    last_step: int | None = None

    def update(self, step: int, value: float) -> bool:
        """Record an evaluation; True when it is the best so far (ties keep the earlier, shorter-trained model)."""
        self.evaluations += 1
        self.last_step = step
        if self.best_value is None or value > self.best_value:
            self.best_value, self.best_step, self.since_best = value, step, 0
            return True
        self.since_best += 1
        return False

    @property
    def exhausted(self) -> bool:
        return self.since_best >= self.patience

    def state(self) -> dict:
        # patience is a setting, not progress: a resumed run takes it from its config
        return {key: value for key, value in dataclasses.asdict(self).items() if key != "patience"}
