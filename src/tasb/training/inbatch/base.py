"""What the in-batch losses share: the student score matrix and a module that builds it from the BERT_DOT student.

Every loss reads two ``[b, 2b]`` matrices, row ``i`` a query, columns ``0..b-1`` the batch's positives (query
``i``'s own at column ``i``), columns ``b..2b-1`` its negatives (query ``i``'s own at column ``b + i``).
"""

from __future__ import annotations

from torch import Tensor, nn

from tasb.models.student import BertDot


def student_scores(queries: Tensor, passages: Tensor, score_scale: float = 1.0) -> Tensor:
    """Every query against every passage of the batch, ``[b, d] x [n, d] -> [b, n]``, in fp32 and scaled."""
    # scores are compared as differences of large, close numbers: take them in fp32 even under bf16 autocast
    return (queries.float() @ passages.float().T) * score_scale


def check_scores(student: Tensor, teacher: Tensor) -> None:
    if student.dim() != 2 or student.shape != teacher.shape:
        raise ValueError(
            f"expected student and teacher score matrices of one shape [b, n], "
            f"got {tuple(student.shape)} and {tuple(teacher.shape)}"
        )


class InBatchLoss(nn.Module):
    """Scores each query against all ``2b`` passages of its batch and hands both matrices to :meth:`loss_fn`."""

    def __init__(self, model: BertDot, score_scale: float = 1.0):
        super().__init__()
        self.model = model
        self.score_scale = score_scale

    def loss_fn(self, student: Tensor, teacher: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} must define loss_fn(student, teacher)")

    def forward(
        self, query_features: dict[str, Tensor], passage_features: dict[str, Tensor], teacher_scores: Tensor
    ) -> Tensor:
        queries = self.model.embed(query_features)
        passages = self.model.embed(passage_features)
        return self.compute_loss_from_embeddings(queries, passages, teacher_scores)

    def compute_loss_from_embeddings(self, queries: Tensor, passages: Tensor, teacher_scores: Tensor) -> Tensor:
        b = queries.shape[0]
        if queries.dim() != 2 or passages.dim() != 2 or passages.shape != (2 * b, queries.shape[1]):
            raise ValueError(
                f"expected queries [b, d] and passages [2b, d] (the b positives, then the b negatives), "
                f"got queries {tuple(queries.shape)} and passages {tuple(passages.shape)}"
            )
        if teacher_scores.shape != (b, 2 * b):
            raise ValueError(
                f"expected teacher scores of shape {(b, 2 * b)} (every query against every passage), "
                f"got {tuple(teacher_scores.shape)}"
            )
        return self.loss_fn(student_scores(queries, passages, self.score_scale), teacher_scores)
