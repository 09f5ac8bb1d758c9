"""In-batch LambdaLoss with the NDCG-Loss2 weights (Wang et al., "The LambdaLoss Framework for Ranking Metric
Optimization", CIKM 2018), the paper's "Lambdarank" row of Table 3.

Follows allRank's ``lambdaLoss(y_pred, y_true, weighing_scheme="ndcgLoss2_scheme", reduction_log="binary")``
(github.com/allegro/allRank, ``allrank/models/losses/lambdaLoss.py``), with two choices of ours: the teacher's
scores become graded labels by per-row min-max scaling to [0, 1], since NDCG gains need non-negative grades
on one scale and a ColBERT score has neither; and the pair losses are summed per row, then averaged over rows,
so the scale does not grow with the number of queries (allRank sums over the whole batch).
"""

from __future__ import annotations

import torch
from torch import Tensor

from tasb.models.student import BertDot
from tasb.training.inbatch.base import InBatchLoss, check_scores


def inbatch_lambdaloss(
    student: Tensor, teacher: Tensor, k: int | None = None, sigma: float = 1.0, eps: float = 1e-10
) -> Tensor:
    """NDCG-Loss2 on each row of ``[b, n]`` score matrices, the teacher row as graded relevance.

    Positions ``r`` are the student's ranks; for each pair of positions with ``g_r > g_q``::

        loss_rq = -w_rq * log2(sigmoid(sigma * (s_r - s_q)))
        w_rq    = |1/D(|r-q|) - 1/D(|r-q|+1)| * |G_r - G_q|,   D(x) = log2(1 + x),   G = (2**g - 1) / IDCG

    summed per row (only positions within the student's top ``k`` when ``k`` is given), then averaged over
    rows. ``g`` is the teacher row min-max scaled to [0, 1]; a constant row has no ordered pair, adds zero.
    """
    check_scores(student, teacher)
    student, teacher = student.float(), teacher.detach().float()
    n = student.shape[1]
    low = teacher.min(dim=-1, keepdim=True).values
    span = teacher.max(dim=-1, keepdim=True).values - low
    # a constant row has teacher - low == 0 everywhere, so the clamp leaves it all zeros, not NaN
    grades = (teacher - low) / span.clamp(min=eps)

    student_sorted, order = student.sort(descending=True, dim=-1)
    grades_by_student = grades.gather(1, order)
    ideal_grades = grades.sort(descending=True, dim=-1).values

    discounts = torch.log2(torch.arange(2, n + 2, device=student.device, dtype=torch.float32))
    ideal_dcg = ((2**ideal_grades - 1) / discounts)[:, :k].sum(-1).clamp(min=eps)
    gains = (2**grades_by_student - 1) / ideal_dcg[:, None]

    positions = torch.arange(n, device=student.device)
    distance = (positions[:, None] - positions[None, :]).abs()
    # delta_|r-q| = 1/D(|r-q|) - 1/D(|r-q|+1); discounts[x] holds D(x + 1); the diagonal is masked out below
    delta = (1 / discounts[(distance - 1).clamp(min=0)] - 1 / discounts[distance]).abs()
    weights = delta[None] * (gains[:, :, None] - gains[:, None, :]).abs()

    ordered = grades_by_student[:, :, None] > grades_by_student[:, None, :]
    top_k = torch.zeros(n, n, dtype=torch.bool, device=student.device)
    top_k[:k, :k] = True

    diffs = (student_sorted[:, :, None] - student_sorted[:, None, :]).clamp(min=-1e8, max=1e8)
    # allRank's clamps: log(0) and 0 ** 0 would put inf or NaN into the gradients
    weighted = (torch.sigmoid(sigma * diffs).clamp(min=eps) ** weights).clamp(min=eps)
    pair_losses = -torch.log2(weighted) * (ordered & top_k[None])
    return pair_losses.sum(dim=(1, 2)).mean()


class InBatchLambdaLoss(InBatchLoss):
    """In-batch LambdaLoss (NDCG-Loss2) for the BERT_DOT student, the teacher's scores as graded relevance.

    Args:
        model: the student; gradients flow into ``model.encoder``.
        score_scale: student dot products are multiplied by this before the pairwise sigmoid.
        k: only pairs within the student's top ``k`` count (NDCG@k); ``None`` for all ``2b`` passages.
        sigma: the sharpness of the pairwise sigmoid.

    Inputs:
        ``forward(query_features, passage_features, teacher_scores)``: ``b`` tokenized queries; ``2b`` tokenized
        passages (the ``b`` positives, then the ``b`` negatives); ``teacher_scores`` of shape ``(b, 2b)`` in the
        passages' order.

    Relations:
        - :func:`inbatch_lambdaloss` is the same loss on precomputed score matrices.
        - Only the teacher's order and relative grades matter here, unlike :class:`InBatchMarginMSELoss`,
          which follows its score differences.

    Example:
        ::

            loss_fn = InBatchLambdaLoss(student, k=10)
            loss = loss_fn(queries, passages, teacher_scores)  # see InBatchMarginMSELoss
    """

    def __init__(self, model: BertDot, score_scale: float = 1.0, k: int | None = None, sigma: float = 1.0):
        super().__init__(model, score_scale)
        self.k = k
        self.sigma = sigma

    def loss_fn(self, student: Tensor, teacher: Tensor) -> Tensor:
        return inbatch_lambdaloss(student, teacher, k=self.k, sigma=self.sigma)
