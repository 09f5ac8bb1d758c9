"""In-batch Margin-MSE (paper eq. 7): each query's own positive is paired with every other passage of the batch.

The pairs and their normalisation follow the authors' matchmaker ``train.py``: the own (positive, negative)
pair is left out, because the pairwise loss (eq. 6) already teaches it with the stronger BERT_CAT teacher, and
the loss is the mean over the remaining ``2b(b-1)`` pairs, so its scale does not grow with the batch size.
Trained with the in-batch teacher alone, nothing else teaches the own pair: ``include_own_negative`` keeps it.
"""

from __future__ import annotations

import torch
from torch import Tensor

from tasb.training.inbatch.base import InBatchLoss, check_scores


def inbatch_margin_mse(student: Tensor, teacher: Tensor, include_own_negative: bool = False) -> Tensor:
    """``mean((s[i,i] - s[i,j]) - (t[i,i] - t[i,j]))^2`` over queries ``i`` and passages ``j`` other than
    query ``i``'s own positive (column ``i``) and, unless ``include_own_negative``, its own negative
    (column ``b + i``); both inputs ``[b, 2b]``."""
    check_scores(student, teacher)
    b = student.shape[0]
    if student.shape[1] != 2 * b:
        raise ValueError(f"expected [b, 2b] score matrices (positives, then negatives), got {tuple(student.shape)}")
    student, teacher = student.float(), teacher.detach().float()
    student_margins = student.diagonal()[:, None] - student
    teacher_margins = teacher.diagonal()[:, None] - teacher
    rows = torch.arange(b, device=student.device)
    in_batch = torch.ones_like(student, dtype=torch.bool)
    in_batch[rows, rows] = False
    if not include_own_negative:
        in_batch[rows, rows + b] = False
    errors = (student_margins - teacher_margins)[in_batch] ** 2
    # a batch of one query has no in-batch pairs: a zero that keeps the graph, not the NaN of an empty mean
    return errors.sum() / max(errors.numel(), 1)


class InBatchMarginMSELoss(InBatchLoss):
    """In-batch Margin-MSE for the BERT_DOT student, taught by a teacher that scores all ``b x 2b`` pairs.

    Args:
        model: the student; gradients flow into ``model.encoder``.
        score_scale: student dot products are multiplied by this before their margins meet the teacher's.

    Inputs:
        ``forward(query_features, passage_features, teacher_scores)``:

        +-----------------------------------------------+------------------------------------------------+
        | features                                      | teacher_scores                                 |
        +===============================================+================================================+
        | ``b`` tokenized queries; ``2b`` tokenized     | ``M_t(q_i, p_j)``, shape ``(b, 2b)``, columns  |
        | passages: the ``b`` positives, then the ``b`` | in the passages' order (e.g. ColBERT)          |
        | negatives                                     |                                                |
        +-----------------------------------------------+------------------------------------------------+

    Relations:
        - :func:`inbatch_margin_mse` is the same loss on precomputed score matrices.
        - :class:`tasb.training.losses.MarginMSELoss` is the pairwise loss (eq. 6) on each query's own pair,
          the one pair this loss leaves out.

    Example:
        ::

            import torch
            from tasb.models.student import BertDot
            from tasb.training.inbatch import InBatchMarginMSELoss

            student = BertDot.load("all-MiniLM-L6-v2", normalize=False)
            loss_fn = InBatchMarginMSELoss(student)
            queries = student.tokenize(["what is a cat", "capital of france"], student.query_max_length)
            passages = student.tokenize(
                ["a cat is an animal", "paris is the capital", "dogs bark", "the moon is far"],
                student.passage_max_length,
            )
            teacher_scores = torch.tensor([[21.0, 9.5, 12.0, 8.0], [7.5, 19.0, 6.0, 11.0]])  # ColBERT, (2, 4)
            loss = loss_fn(queries, passages, teacher_scores)
            loss.backward()
    """

    def loss_fn(self, student: Tensor, teacher: Tensor) -> Tensor:
        return inbatch_margin_mse(student, teacher)
