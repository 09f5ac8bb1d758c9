"""In-batch KL divergence: per query, the student's softmax over the batch's passages should match the teacher's.

``F.kl_div`` expects the student side as log-probabilities. The authors' matchmaker ``KLDivTeacherList`` passed
probabilities, which computes ``sum p_t * (log p_t - p_s)``: not a divergence, nonzero (negative) even when the
student equals the teacher. We do not copy that.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from tasb.models.student import BertDot
from tasb.training.inbatch.base import InBatchLoss, check_scores


def inbatch_kldiv(student: Tensor, teacher: Tensor, temperature: float = 1.0) -> Tensor:
    """``KL(softmax(t/T) || softmax(s/T))`` per row, averaged over rows; inputs ``[b, n]``, the student side
    entering ``F.kl_div`` as log-probabilities."""
    check_scores(student, teacher)
    return F.kl_div(
        F.log_softmax(student.float() / temperature, dim=-1),
        F.log_softmax(teacher.detach().float() / temperature, dim=-1),
        log_target=True,
        reduction="batchmean",
    )


class InBatchKLDivLoss(InBatchLoss):
    """In-batch KL divergence for the BERT_DOT student, taught by a teacher that scores all ``b x 2b`` pairs.

    Args:
        model: the student; gradients flow into ``model.encoder``.
        score_scale: student dot products are multiplied by this before the softmax.
        temperature: both score matrices are divided by this before the softmax.

    Inputs:
        ``forward(query_features, passage_features, teacher_scores)``: ``b`` tokenized queries; ``2b`` tokenized
        passages (the ``b`` positives, then the ``b`` negatives); ``teacher_scores`` of shape ``(b, 2b)`` in the
        passages' order.

    Relations:
        - :func:`inbatch_kldiv` is the same loss on precomputed score matrices.
        - :class:`InBatchListNetLoss` differs only by the teacher's entropy, a constant: same gradients.

    Example:
        ::

            loss_fn = InBatchKLDivLoss(student, temperature=1.0)
            loss = loss_fn(queries, passages, teacher_scores)  # see InBatchMarginMSELoss
    """

    def __init__(self, model: BertDot, score_scale: float = 1.0, temperature: float = 1.0):
        super().__init__(model, score_scale)
        self.temperature = temperature

    def loss_fn(self, student: Tensor, teacher: Tensor) -> Tensor:
        return inbatch_kldiv(student, teacher, self.temperature)
