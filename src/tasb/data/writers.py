"""Writers for TREC runs and qrels, teacher score files and query clusters; every file appears whole or not at all."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable, Mapping

from tasb.data.records import Qrels, Run, ScoredPair
from tasb.fsutil import atomic_write


def ranked(scores: dict[str, float], k: int | None = None) -> list[tuple[str, float]]:
    """Passages by descending score, ties broken by id so output is deterministic."""
    if k is not None and k < 0:
        # items[:-1] would silently drop the last passage: options are checked before they get here
        raise ValueError(f"a ranking depth of at least 0, got {k}")
    items = sorted(scores.items(), key=lambda item: (-item[1], item[0]))
    return items[:k] if k is not None else items


def write_run(run: Run, path: str | Path, tag: str = "tasb", k: int | None = None) -> None:
    """TREC run format ``qid Q0 pid rank score tag``, ``k`` passages per query at most."""
    with atomic_write(path) as handle:
        for qid in sorted(run):
            for rank, (pid, score) in enumerate(ranked(run[qid], k), start=1):
                handle.write(f"{qid} Q0 {pid} {rank} {score:.6f} {tag}\n")


def write_qrels(qrels: Qrels, path: str | Path) -> None:
    """TREC qrels format ``qid 0 pid grade``."""
    with atomic_write(path) as handle:
        for qid in sorted(qrels):
            for pid, grade in sorted(qrels[qid].items()):
                handle.write(f"{qid} 0 {pid} {grade}\n")


def write_scores(rows: Iterable[ScoredPair], path: str | Path) -> int:
    """The paper's teacher score file: ``score_pos<TAB>score_neg<TAB>qid<TAB>pid_pos<TAB>pid_neg``."""
    count = 0
    with atomic_write(path) as handle:
        for row in rows:
            handle.write(f"{row.score_pos:.6f}\t{row.score_neg:.6f}\t{row.qid}\t{row.pid_pos}\t{row.pid_neg}\n")
            count += 1
    return count


def write_clusters(clusters: Mapping[str, object], path: str | Path) -> int:
    """Topic clusters of the queries, ``qid<TAB>cluster`` per line in the mapping's order, no header."""
    with atomic_write(path) as handle:
        for qid, cluster in clusters.items():
            handle.write(f"{qid}\t{cluster}\n")
    return len(clusters)
