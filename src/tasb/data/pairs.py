"""Training pairs: judged positives × negatives from a first-stage run."""

from __future__ import annotations

import random

from tasb.data.records import Pair, Qrels, Run
from tasb.data.writers import ranked


def positives(qrels: Qrels, min_grade: int = 1) -> dict[str, list[str]]:
    """Per query, the passages judged at ``min_grade`` or above."""
    found = {qid: sorted(p for p, g in judged.items() if g >= min_grade) for qid, judged in qrels.items()}
    return {qid: pids for qid, pids in found.items() if pids}


def sharing_positives(qrels: Qrels, training_qrels: Qrels, min_grade: int = 1) -> set[str]:
    """The queries of ``qrels`` with a positive that is also a positive of some query of ``training_qrels``.

    A model fine-tuned on ``training_qrels`` can find those passages from memory: scores on such queries mix what
    it learnt of the task with what it remembers of the passages.
    """
    seen = {pid for pids in positives(training_qrels, min_grade).values() for pid in pids}
    return {qid for qid, pids in positives(qrels, min_grade).items() if seen.intersection(pids)}


def negatives(run: Run, qrels: Qrels, depth: int) -> dict[str, list[str]]:
    """Per query, the run's top-``depth`` passages that are not judged relevant (unjudged count as negative)."""
    out = {}
    for qid, scores in run.items():
        judged = qrels.get(qid, {})
        out[qid] = [pid for pid, _ in ranked(scores, depth) if judged.get(pid, 0) <= 0]
    return out


def training_pairs(
    qrels: Qrels, run: Run, depth: int = 100, per_query: int | None = None, seed: int = 0, min_grade: int = 1
) -> list[Pair]:
    """Every judged positive paired with negatives from the run's top-``depth``.

    With ``per_query`` set, that many negatives are drawn uniformly per query (seeded), as the MS MARCO
    training triples were drawn from BM25's top-1000; otherwise all of them are used.
    """
    rng = random.Random(seed)
    pos = positives(qrels, min_grade)
    neg = negatives(run, qrels, depth)
    pairs = []
    for qid in sorted(pos):
        candidates = neg.get(qid, [])
        if per_query is not None and len(candidates) > per_query:
            candidates = sorted(rng.sample(candidates, per_query), key=candidates.index)
        pairs.extend(Pair(qid, p, n) for p in pos[qid] for n in candidates)
    return pairs
