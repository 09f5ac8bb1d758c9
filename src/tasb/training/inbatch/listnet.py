"""In-batch ListNet (Cao et al., ICML 2007), top-one probabilities: the cross-entropy from the teacher's softmax
over the batch's passages to the student's."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from tasb.models.student import BertDot
from tasb.training.inbatch.base import InBatchLoss, check_scores


def inbatch_listnet(student: Tensor, teacher: Tensor, temperature: float = 1.0) -> Tensor:
    """``-(softmax(t/T) * log_softmax(s/T)).sum(-1)``, averaged over rows; inputs ``[b, n]``."""
    check_scores(student, teacher)
    target = F.softmax(teacher.detach().float() / temperature, dim=-1)
    return -(target * F.log_softmax(student.float() / temperature, dim=-1)).sum(-1).mean()


class InBatchListNetLoss(InBatchLoss):
    """In-batch ListNet for the BERT_DOT student, taught by a teacher that scores all ``b x 2b`` pairs.

    Args:
        model: the student; gradients flow into ``model.encoder``.
        score_scale: student dot products are multiplied by this before the softmax.
        temperature: both score matrices are divided by this before the softmax.

    Inputs:
        ``forward(query_features, passage_features, teacher_scores)``: ``b`` tokenized queries; ``2b`` tokenized
        passages (the ``b`` positives, then the ``b`` negatives); ``teacher_scores`` of shape ``(b, 2b)`` in the
        passages' order.

    Relations:
        - :func:`inbatch_listnet` is the same loss on precomputed score matrices.
        - It is :class:`InBatchKLDivLoss` plus the teacher's entropy: the same gradients, a floor above zero.

    Example:
        ::

            loss_fn = InBatchListNetLoss(student)
            loss = loss_fn(queries, passages, teacher_scores)  # see InBatchMarginMSELoss
    """

    def __init__(self, model: BertDot, score_scale: float = 1.0, temperature: float = 1.0):
        super().__init__(model, score_scale)
        self.temperature = temperature

    def loss_fn(self, student: Tensor, teacher: Tensor) -> Tensor:
        return inbatch_listnet(student, teacher, self.temperature)
