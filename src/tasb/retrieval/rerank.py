"""Re-ranking a candidate run with any scorer (a cross-encoder, BM25, a bi-encoder, an ensemble)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tasb.data.records import Corpus, Queries, Run
from tasb.data.writers import ranked
from tasb.errors import InputError

if TYPE_CHECKING:
    from tasb.retrieval.scorers import Scorer


def rerank(run: Run, queries: Queries, corpus: Corpus, scorer: "Scorer", depth: int) -> Run:
    """Re-score each query's top-``depth`` candidates and rank them, in their new order, above the rest.

    The candidate set is kept: passages below ``depth`` keep their relative order and get scores below
    the lowest re-ranked one, so any reader that sorts by score sees the intended ranking.
    """
    if depth < 1:
        raise InputError("rerank_depth", "a re-ranking depth of at least 1", str(depth))
    return with_new_heads(run, scorer.score(heads(run, depth), queries, corpus))


def rerank_with_members(run: Run, queries: Queries, corpus: Corpus, scorer: "Scorer", depth: int) -> dict[str, Run]:
    """:func:`rerank`, plus, for an ensemble, the run re-ranked by each member alone: ``{name: run}``.

    Each member scores the candidates once; the ensemble combines those scores, so judging every member
    costs nothing over judging the ensemble. The scorer's own run comes last.
    """
    from tasb.data.scores import ensemble
    from tasb.retrieval.scorers import EnsembleScorer

    if not isinstance(scorer, EnsembleScorer):
        return {scorer.name: rerank(run, queries, corpus, scorer, depth)}
    if depth < 1:
        raise InputError("rerank_depth", "a re-ranking depth of at least 1", str(depth))
    top = heads(run, depth)
    member_scores = [member.score(top, queries, corpus) for member in scorer.members]
    runs: dict[str, Run] = {}
    for number, (member, scores) in enumerate(zip(scorer.members, member_scores), start=1):
        # the same teacher twice (say, at two weights) still gets a row each
        runs[member.name if member.name not in runs else f"{member.name} (#{number})"] = with_new_heads(run, scores)
    runs[scorer.name] = with_new_heads(run, ensemble(member_scores, scorer.weights))
    return runs


def heads(run: Run, depth: int) -> dict[str, list[str]]:
    """Each query's top-``depth`` passages, the part of a run a re-ranker scores."""
    return {qid: [pid for pid, _ in ranked(scores, depth)] for qid, scores in run.items()}


def with_new_heads(run: Run, rescored: dict[str, dict[str, float]]) -> Run:
    """The run with each query's re-scored head on top and the rest of its candidates below, in order."""
    return {qid: keep_tail(rescored[qid], run[qid]) for qid in run}


def keep_tail(head: dict[str, float], candidates: dict[str, float]) -> dict[str, float]:
    """``head``'s new scores, then the other ``candidates`` in their old order, scored below the lowest head score."""
    merged = dict(head)
    floor = min(head.values(), default=0.0)
    tail = [pid for pid, _ in ranked(candidates) if pid not in head]
    for rank, pid in enumerate(tail, start=1):
        merged[pid] = floor - rank
    return merged
