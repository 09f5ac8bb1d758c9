"""Margin-MSE (paper eq. 6): the student learns the teacher's score margin between two passages, not the
scores themselves, so a dot-product student and a cross-encoder teacher on another scale can agree."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from tasb.models.student import BertDot


def margin_mse(student_pos: Tensor, student_neg: Tensor, teacher_pos: Tensor, teacher_neg: Tensor) -> Tensor:
    """``MSE(s+ - s-, t+ - t-)``, averaged over the batch; every argument has shape ``(batch,)``."""
    return F.mse_loss(student_pos - student_neg, teacher_pos - teacher_neg)


def contrastive(scores: Tensor, judged: Tensor, also_relevant: Tensor | None = None) -> Tensor:
    """The judged labels as sentence-transformers' ``MultipleNegativesRankingLoss`` teaches them.

    Cross-entropy of query ``i``'s own positive (column ``i`` of the ``[b, 2b]`` score matrix, see
    :mod:`tasb.training.inbatch.base`) against every passage of the batch. ``judged`` ``(b,)`` marks the rows
    whose positive is judged relevant (a score file may pair any two passages); other rows add nothing.
    ``also_relevant`` ``[b, 2b]`` marks other passages of the batch judged relevant to the query: they are
    left out of its softmax rather than pushed down as negatives.
    """
    if not judged.any():
        return scores.new_zeros(())
    b = scores.shape[0]
    logits = scores.float()
    if also_relevant is not None:
        logits = logits.masked_fill(also_relevant, float("-inf"))
    targets = torch.arange(b, device=scores.device)
    return F.cross_entropy(logits[judged], targets[judged])


class MarginMSELoss(nn.Module):
    """Margin-MSE for the BERT_DOT student: its scores are dot products of query and passage vectors.

    Args:
        model: the student; gradients flow into ``model.encoder``.
        score_scale: student scores are multiplied by this before their margin meets the teacher's. 1 for
            the paper's unnormalised dot product; a cosine (normalised) student scores in [-1, 1] and
            needs a larger scale to reach the teacher's margins.

    Inputs:
        ``forward(query_features, passage_features, teacher_margins)``:

        +-----------------------------------------------+------------------------------------------------+
        | features                                      | teacher_margins                                |
        +===============================================+================================================+
        | ``b`` tokenized queries; ``2b`` tokenized     | ``M_t(q, p+) - M_t(q, p-)``, shape ``(b,)``    |
        | passages: the ``b`` positives, then the ``b`` |                                                |
        | negatives (one encoder pass covers both)      |                                                |
        +-----------------------------------------------+------------------------------------------------+

        The passages need not be relevant and non-relevant: any pair the teacher scored works.

    Relations:
        - :func:`margin_mse` is the same loss on precomputed scores.
        - ``sentence_transformers.sentence_transformer.losses.MarginMSELoss`` is this loss for a
          ``SentenceTransformer`` fed by its trainer; this one takes the :class:`BertDot` student, whose
          queries and passages are tokenized to different lengths.

    Example:
        ::

            import torch
            from tasb.models.student import BertDot
            from tasb.training.losses import MarginMSELoss

            student = BertDot.load("all-MiniLM-L6-v2", normalize=False)
            loss_fn = MarginMSELoss(student)
            queries = student.tokenize(["what is a dense retriever"], student.query_max_length)
            passages = student.tokenize(
                ["A dense retriever scores passages by the dot product of vectors.", "Paris is in France."],
                student.passage_max_length,
            )
            loss = loss_fn(queries, passages, torch.tensor([8.5]))
            loss.backward()
    """

    def __init__(self, model: BertDot, score_scale: float = 1.0):
        super().__init__()
        self.model = model
        self.score_scale = score_scale

    def forward(
        self, query_features: dict[str, Tensor], passage_features: dict[str, Tensor], teacher_margins: Tensor
    ) -> Tensor:
        queries = self.model.embed(query_features)
        positives, negatives = self.model.embed(passage_features).chunk(2)
        return self.compute_loss_from_embeddings(queries, positives, negatives, teacher_margins)

    def compute_loss_from_embeddings(
        self, queries: Tensor, positives: Tensor, negatives: Tensor, teacher_margins: Tensor
    ) -> Tensor:
        if not queries.shape == positives.shape == negatives.shape:
            raise ValueError(
                f"expected as many positives and negatives as queries, got {queries.shape[0]} queries, "
                f"{positives.shape[0]} positives and {negatives.shape[0]} negatives"
            )
        if teacher_margins.shape != queries.shape[:1]:
            raise ValueError(
                f"expected one teacher margin per query, shape {tuple(queries.shape[:1])}, got {tuple(teacher_margins.shape)}"
            )
        # margins are differences of large, close numbers: take them in fp32 even under bf16 autocast
        queries = queries.float()
        scores_pos = (queries * positives.float()).sum(-1) * self.score_scale
        scores_neg = (queries * negatives.float()).sum(-1) * self.score_scale
        return margin_mse(scores_pos, scores_neg, teacher_margins.float(), torch.zeros_like(scores_neg))
