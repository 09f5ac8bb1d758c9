"""Teacher score files in the paper's format, and ensembles of them."""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path
from typing import Sequence

import numpy as np

from tasb.data.readers import _parse_float, iter_lines, line_naming
from tasb.data.records import Corpus, Queries, ScoredPair
from tasb.errors import InputError


def read_scores(
    path: str | Path, queries: set[str] | None = None, passages: set[str] | None = None
) -> list[ScoredPair]:
    """Read ``score_pos score_neg qid pid_pos pid_neg`` lines (tab-separated).

    With ``queries`` / ``passages`` given, a line naming an id outside them is refused: a score file
    from another collection would otherwise train on missing text.
    """
    path = Path(path)
    rows = []
    for number, line in iter_lines(path):
        cols = line.split("\t")
        if len(cols) != 5:
            raise InputError(path, "5 tab-separated columns: score_pos score_neg qid pid_pos pid_neg", line, line=number)
        pos = _parse_float(cols[0], path, number, "score_pos")
        neg = _parse_float(cols[1], path, number, "score_neg")
        qid, pid_pos, pid_neg = (c.strip() for c in cols[2:])
        if queries is not None and qid not in queries:
            raise InputError(path, "a qid of the training queries", qid, line=number)
        if passages is not None:
            for pid in (pid_pos, pid_neg):
                if pid not in passages:
                    raise InputError(path, "a pid of the corpus", pid, line=number)
        rows.append(ScoredPair(pos, neg, qid, pid_pos, pid_neg))
    if not rows:
        raise InputError(path, "at least one scored pair", "an empty file")
    return rows


def normalize_per_query(scores: dict[str, dict[str, float]]) -> dict[str, dict[str, float]]:
    """Z-score each query's passage scores, so teachers on different scales can be averaged.

    A query whose passages all score the same keeps zeros: it carries no preference.
    """
    normalized = {}
    for qid, by_pid in scores.items():
        values = np.fromiter(by_pid.values(), dtype=np.float64, count=len(by_pid))
        std = values.std()
        centred = values - values.mean()
        z = centred / std if std > 0 else np.zeros_like(values)
        normalized[qid] = dict(zip(by_pid, z.tolist()))
    return normalized


def passage_scores(rows: list[ScoredPair]) -> dict[str, dict[str, float]]:
    """Per-query passage scores recovered from pairwise rows (a passage's score is the same in every pair)."""
    scores: dict[str, dict[str, float]] = defaultdict(dict)
    for row in rows:
        scores[row.qid][row.pid_pos] = row.score_pos
        scores[row.qid][row.pid_neg] = row.score_neg
    return dict(scores)


def checked_weights(weights: Sequence[float] | None, count: int, member: str) -> list[float]:
    """One non-negative weight per ``member`` with a positive sum; none given means all equal."""
    weights = list(weights) if weights else [1.0] * count
    if len(weights) != count:
        raise InputError("weights", f"one weight per {member} ({count})", f"{len(weights)} weights")
    if not all(math.isfinite(w) and w >= 0 for w in weights) or sum(weights) <= 0:
        raise InputError("weights", "finite non-negative weights with a positive sum", str(weights))
    return weights


def ensemble(score_sets: list[dict[str, dict[str, float]]], weights: list[float] | None = None) -> dict[str, dict[str, float]]:
    """Weighted mean of per-query z-normalised scores; a passage missing from one teacher is refused."""
    weights = checked_weights(weights, len(score_sets), "teacher")
    total = sum(weights)
    normalized = [normalize_per_query(s) for s in score_sets]
    merged: dict[str, dict[str, float]] = {}
    for qid, by_pid in normalized[0].items():
        merged[qid] = {}
        for pid in by_pid:
            try:
                merged[qid][pid] = sum(w * member[qid][pid] for w, member in zip(weights, normalized)) / total
            except KeyError:
                raise ValueError(f"every teacher must score query {qid} with passage {pid}") from None
    return merged


def ensemble_files(paths: list[str | Path], weights: list[float] | None = None) -> list[ScoredPair]:
    """The paper's teacher ensemble: average several score files over the same pairs."""
    files = [read_scores(p) for p in paths]
    reference = {(r.qid, r.pid_pos, r.pid_neg) for r in files[0]}
    for path, rows in zip(paths[1:], files[1:]):
        if {(r.qid, r.pid_pos, r.pid_neg) for r in rows} != reference:
            raise InputError(path, f"the same (qid, pid_pos, pid_neg) pairs as {paths[0]}", "a different set of pairs")
    merged = ensemble([passage_scores(rows) for rows in files], weights)
    return [ScoredPair(merged[r.qid][r.pid_pos], merged[r.qid][r.pid_neg], r.qid, r.pid_pos, r.pid_neg) for r in files[0]]


def check_score_texts(scores: Sequence[ScoredPair], queries: Queries, corpus: Corpus, path: str | Path, where: str) -> None:
    """Every id a score row names must have text: otherwise training would fail hours in, on one batch.

    The error points at the line of ``path`` naming the id (the pair's number when ``path`` is no such file)."""
    if not scores:
        raise InputError(path, "at least one scored pair", "none")
    for number, row in enumerate(scores, start=1):
        if row.qid not in queries:
            _refuse_unknown(path, f"query ids with a text in {where}", row.qid, (2,), number)
        for pid in (row.pid_pos, row.pid_neg):
            if pid not in corpus:
                _refuse_unknown(path, f"passage ids of the corpus of {where}", pid, (3, 4), number)


def _refuse_unknown(path: str | Path, expected: str, unknown: str, columns: tuple[int, ...], pair: int) -> None:
    found = line_naming(path, {unknown}, columns, sep="\t") if Path(path).is_file() else None
    if found is None:
        raise InputError(path, expected, f"{unknown} (pair {pair})")
    raise InputError(path, expected, unknown, line=found[0])
