"""Checks the trainer and ``tasb sample`` share before building a sampler: errors a user fixes in a file."""

from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from tasb.errors import InputError


def check_sampling_inputs(
    qids: Sequence[str], batch_size: int, scores_path: str | Path, clusters: Mapping[str, object] | None = None,
    clusters_path: str | Path = "",
) -> None:
    """Enough distinct queries (``qids``, the score file's, in order) for a batch, and a cluster for each."""
    if len(qids) < batch_size:
        raise InputError(
            scores_path,
            f"at least batch_size={batch_size} distinct queries (a batch never repeats a query)",
            f"{len(qids)} queries",
        )
    missing = next((qid for qid in qids if qid not in clusters), None) if clusters else None
    if missing is not None:
        raise InputError(clusters_path, f"a cluster for every query of {scores_path}", f"none for query {missing}")
