"""Dual supervision (paper eq. 8): ``L = L_pair + alpha * L_inB``, plus the judged labels: ``+ w * L_label``.

The pairwise part is Margin-MSE on each query's own (p+, p-) against the pairwise teacher's margin (eq. 6);
the in-batch part scores each query against all ``2b`` passages of the batch against an in-batch teacher
(ColBERT). ``mode`` picks the teacher rows of Table 4: ``pairwise``, ``in-batch`` or ``dual``; ``inbatch_loss``
the rows of Table 3. The label part (not in the paper) is a contrastive loss on the judged positive against
the batch's other passages, as sentence-transformers' MultipleNegativesRankingLoss: on small collections the
judgments teach what a teacher trained on them cannot pass on (docs/student.md).
"""

from __future__ import annotations

import logging
from functools import partial
from typing import Sequence

import torch
from torch import Tensor, nn

from tasb.config import InBatchLossName, TeacherMode, Teaching
from tasb.data.records import Qrels, ScoredPair
from tasb.models.student import BertDot
from tasb.training.inbatch import INBATCH_LOSSES, inbatch_margin_mse, student_scores
from tasb.training.losses import contrastive, margin_mse

logger = logging.getLogger(__name__)


class DualLoss(nn.Module):
    """The student's loss under any teacher mode; ``forward`` returns the total and each part by name.

    Args:
        model: the BERT_DOT student; gradients flow into ``model.encoder`` only.
        mode: ``pairwise`` (eq. 6 alone), ``in-batch`` (eq. 7 alone) or ``dual`` (eq. 8).
        inbatch_loss: ``margin-mse`` (eq. 7), ``kldiv``, ``listnet`` or ``lambdaloss``.
        alpha: the in-batch part's weight in ``dual`` (the paper: 0.75).
        score_scale: student dot products are multiplied by this before meeting any teacher.
        contrastive_weight: weight of the label part; 0 leaves it out (the paper's losses alone).
        pairwise_weight: weight of the pairwise part (the paper: 1).
        contrastive_scale: student similarities are multiplied by this (an inverse temperature) in the label
            part; ``None``: 20 for a normalised student (sentence-transformers' default for cosine similarity),
            1 for an unnormalised dot product, whose scores are already spread out.

    Inputs:
        ``forward(query_features, passage_features, teacher_margins, teacher_scores, judged, also_relevant)``:
        ``b`` queries; ``2b`` passages, the positives then the negatives; the pairwise teacher's margins
        ``(b,)`` (unused by ``in-batch``); the in-batch teacher's ``(b, 2b)`` scores (``None`` for ``pairwise``);
        for the label part, which rows' positives are judged relevant ``(b,)`` and which other passages of the
        batch are judged relevant to each query ``(b, 2b)`` (see :func:`tasb.training.losses.contrastive`).
    """

    def __init__(
        self,
        model: BertDot,
        mode: TeacherMode = "pairwise",
        inbatch_loss: InBatchLossName = "margin-mse",
        alpha: float = 0.75,
        score_scale: float = 1.0,
        contrastive_weight: float = 0.0,
        contrastive_scale: float | None = None,
        pairwise_weight: float = 1.0,
    ):
        super().__init__()
        if mode not in ("pairwise", "in-batch", "dual"):
            raise ValueError(f"unknown teacher mode {mode!r}: expected pairwise, in-batch or dual")
        if inbatch_loss not in INBATCH_LOSSES:
            raise ValueError(f"unknown in-batch loss {inbatch_loss!r}: expected one of {', '.join(INBATCH_LOSSES)}")
        self.model = model
        self.mode = mode
        self.alpha = alpha
        self.score_scale = score_scale
        self.contrastive_weight = contrastive_weight
        self.pairwise_weight = pairwise_weight
        self.contrastive_scale = contrastive_scale if contrastive_scale is not None else (20.0 if model.normalize else 1.0)
        self.inbatch_fn = INBATCH_LOSSES[inbatch_loss]
        if inbatch_loss == "margin-mse" and mode == "in-batch":
            # no pairwise loss teaches the query's own pair here, so the in-batch one must
            self.inbatch_fn = partial(inbatch_margin_mse, include_own_negative=True)

    @property
    def needs_inbatch_teacher(self) -> bool:
        return self.mode != "pairwise"

    def forward(
        self,
        query_features: dict[str, Tensor],
        passage_features: dict[str, Tensor],
        teacher_margins: Tensor,
        teacher_scores: Tensor | None = None,
        judged: Tensor | None = None,
        also_relevant: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        queries = self.model.embed(query_features)
        passages = self.model.embed(passage_features)
        return self.compute_loss_from_embeddings(queries, passages, teacher_margins, teacher_scores, judged, also_relevant)

    def compute_loss_from_embeddings(
        self,
        queries: Tensor,
        passages: Tensor,
        teacher_margins: Tensor,
        teacher_scores: Tensor | None = None,
        judged: Tensor | None = None,
        also_relevant: Tensor | None = None,
    ) -> tuple[Tensor, dict[str, float]]:
        b = queries.shape[0]
        if passages.shape[0] != 2 * b:
            raise ValueError(f"expected 2b = {2 * b} passages (positives, then negatives), got {passages.shape[0]}")
        scores = student_scores(queries, passages, self.score_scale)
        total = queries.new_zeros((), dtype=torch.float32)
        parts: dict[str, float] = {}
        if self.mode in ("pairwise", "dual"):
            if teacher_margins.shape != (b,):
                raise ValueError(f"expected one teacher margin per query, shape {(b,)}, got {tuple(teacher_margins.shape)}")
            rows = torch.arange(b, device=scores.device)
            pair = margin_mse(scores[rows, rows], scores[rows, rows + b], teacher_margins.float(), torch.zeros_like(teacher_margins).float())
            total = total + self.pairwise_weight * pair
            parts["loss_pair"] = pair.item()
        if self.mode in ("in-batch", "dual"):
            if teacher_scores is None:
                raise ValueError(f"teacher mode {self.mode} needs the in-batch teacher's (b, 2b) scores")
            inbatch = self.inbatch_fn(scores, teacher_scores.detach())
            total = total + (self.alpha if self.mode == "dual" else 1.0) * inbatch
            parts["loss_inbatch"] = inbatch.item()
        if self.contrastive_weight > 0:
            if judged is None:
                raise ValueError("the label part needs to know which rows' positives are judged relevant")
            labels = contrastive(scores * (self.contrastive_scale / self.score_scale), judged, also_relevant)
            total = total + self.contrastive_weight * labels
            parts["loss_label"] = labels.item()
        return total, parts


def passage_ids(batch: Sequence[ScoredPair]) -> list[str]:
    """A batch's ``2b`` passages as :class:`DualLoss` takes them: the positives, then the negatives."""
    return [pair.pid_pos for pair in batch] + [pair.pid_neg for pair in batch]


def label_masks(batch: Sequence[ScoredPair], qrels: Qrels, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
    """For the label part: rows whose positive is judged relevant, and the batch's other passages judged relevant to each query."""
    pids = passage_ids(batch)
    relevant = [{pid for pid, grade in qrels.get(pair.qid, {}).items() if grade > 0} for pair in batch]
    judged = torch.tensor([pair.pid_pos in rel for pair, rel in zip(batch, relevant)], device=device)
    also = torch.tensor([[pid in rel and column != row for column, pid in enumerate(pids)] for row, rel in enumerate(relevant)], device=device)
    return judged, also


def build_loss(teaching: Teaching, student: BertDot, qrels: Qrels, source: str = "") -> DualLoss:
    """The loss ``teaching`` describes for ``student``; the label part only where ``qrels`` hold judgments to teach."""
    contrastive_weight = teaching.contrastive_weight
    if contrastive_weight > 0 and not any(grade > 0 for judged in qrels.values() for grade in judged.values()):
        logger.warning("%s holds no relevance judgments: training without the label part (contrastive_weight)", source or "the dataset")
        contrastive_weight = 0.0
    return DualLoss(
        student, teaching.teacher_mode, teaching.inbatch_loss, teaching.alpha, teaching.score_scale,
        contrastive_weight, teaching.contrastive_scale, teaching.pairwise_weight,
    )
