"""Fitted scales: the student's and ColBERT's scores brought to the teacher's scale from the data, not by hand.

Margin-MSE compares margins, so the units matter: a cosine student's margins are ~0.1, a z-normalised
teacher's ~1, an unnormalised dot product's ~10. ``score_scale: null`` multiplies the student's scores by the
ratio of root-mean-square margins, the pairwise teacher's over the starting student's, on a sample of the
score file; ``colbert_scale: null`` multiplies ColBERT's in-batch scores by the ratio of the (scaled) student's
in-batch margins over ColBERT's on a few batches. Root-mean-square ratios match magnitudes whatever the
starting student's agreement with the teacher (a least-squares fit shrinks towards 0 when it agrees little).
"""

from __future__ import annotations

import logging
import random
from typing import Sequence, TypeVar

import dataclasses

import numpy as np

from tasb.config import Teaching
from tasb.data.records import Dataset, ScoredPair
from tasb.errors import InputError
from tasb.models.student import BertDot
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.dual import passage_ids

logger = logging.getLogger(__name__)

# enough pairs for the ratio to settle within a few percent, few enough to cost seconds
SAMPLE_PAIRS = 256

T = TypeVar("T", bound=Teaching)


def resolve_scales(
    config: T, student: BertDot, dataset: Dataset, pairs: Sequence[ScoredPair], teacher: ColbertTeacher | None,
    batch_size: int, seed: int, bf16: bool, passage_max_length: int | None = None,
) -> T:
    """``config`` with every scale left null fitted on ``student`` as it starts (``teacher``: the in-batch ColBERT),
    its passages cut where training cuts them (``passage_max_length``; None: the student's own length)."""
    score_scale = config.score_scale
    if score_scale is None:
        score_scale = (
            fit_score_scale(student, dataset, pairs, seed, bf16, passage_max_length) if config.teacher_mode != "in-batch" else 1.0
        )
    colbert_scale = config.colbert_scale
    if colbert_scale is None:
        colbert_scale = 1.0 if teacher is None else fit_colbert_scale(
            teacher, student, score_scale, dataset, pairs, batch_size, seed, bf16, passage_max_length
        )
    return dataclasses.replace(config, score_scale=score_scale, colbert_scale=colbert_scale)


def fit_score_scale(
    student: BertDot, dataset: Dataset, pairs: Sequence[ScoredPair], seed: int, bf16: bool, passage_max_length: int | None = None
) -> float:
    """The factor that gives the student's pairwise margins the root-mean-square of the teacher's."""
    sample = _sample(pairs, seed)
    queries, positives, negatives = _encode(student, dataset, sample, bf16, passage_max_length)
    student_margins = (queries * (positives - negatives)).sum(axis=1)
    teacher_margins = np.array([pair.margin for pair in sample])
    return _rms_ratio(teacher_margins, student_margins, "score_scale")


def fit_colbert_scale(
    teacher: ColbertTeacher, student: BertDot, score_scale: float, dataset: Dataset, pairs: Sequence[ScoredPair],
    batch_size: int, seed: int, bf16: bool, passage_max_length: int | None = None,
) -> float:
    """The factor that gives ColBERT's in-batch margins (against each query's own positive) the student's magnitude."""
    sample = _sample(pairs, seed)
    batch_size = min(batch_size, len(sample))
    student_margins, teacher_margins = [], []
    for start in range(0, len(sample) - batch_size + 1, batch_size):
        batch = sample[start : start + batch_size]
        queries, positives, negatives = _encode(student, dataset, batch, bf16, passage_max_length)
        student_scores = queries @ np.concatenate([positives, negatives]).T * score_scale
        raw = teacher.scores([dataset.queries[pair.qid] for pair in batch], passage_ids(batch)).numpy() / teacher.scale
        student_margins.append(_inbatch_margins(student_scores))
        teacher_margins.append(_inbatch_margins(raw))
    return _rms_ratio(np.concatenate(student_margins), np.concatenate(teacher_margins), "colbert_scale")


def _sample(pairs: Sequence[ScoredPair], seed: int) -> list[ScoredPair]:
    pairs = list(pairs)
    return random.Random(seed).sample(pairs, min(SAMPLE_PAIRS, len(pairs)))


def _encode(
    student: BertDot, dataset: Dataset, pairs: Sequence[ScoredPair], bf16: bool, passage_max_length: int | None
) -> tuple[np.ndarray, ...]:
    queries = student.encode_queries([dataset.queries[pair.qid] for pair in pairs], bf16=bf16)
    passages = student.encode_passages([dataset.corpus[pid] for pid in passage_ids(pairs)], bf16=bf16, max_length=passage_max_length)
    return queries, passages[: len(pairs)], passages[len(pairs) :]


def _inbatch_margins(scores: np.ndarray) -> np.ndarray:
    """Each query's own positive minus every passage of the batch, the positive itself left out."""
    rows = np.arange(scores.shape[0])
    margins = scores[rows, rows][:, None] - scores
    keep = np.ones_like(margins, dtype=bool)
    keep[rows, rows] = False
    return margins[keep]


def _rms_ratio(target: np.ndarray, source: np.ndarray, key: str) -> float:
    source_rms = float(np.sqrt(np.mean(np.square(source, dtype=np.float64))))
    target_rms = float(np.sqrt(np.mean(np.square(target, dtype=np.float64))))
    if source_rms == 0 or target_rms == 0:
        raise InputError(key, "a number: the margins to fit it on are all 0", "null")
    logger.info("%s fitted: %.4g (margins' root mean square %.4g over %.4g)", key, target_rms / source_rms, target_rms, source_rms)
    return target_rms / source_rms
