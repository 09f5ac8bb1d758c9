"""TAS-Balanced batches and dual supervision inside sentence-transformers' own trainer.

tasb's one idea that no other library offers, usable from ``SentenceTransformerTrainer``: a batch sampler
(Random, TAS or TAS-Balanced over a teacher score file and query clusters) and a loss (the pairwise
Margin-MSE of eq. 6, the in-batch teacher of eq. 7, both as eq. 8, plus the judged labels)::

    pairs = read_scores("teacher_scores.tsv")
    args = SentenceTransformerTrainingArguments(
        output_dir="out", max_steps=1000, per_device_train_batch_size=32,
        batch_sampler=tas_batch_sampler(pairs, "tas-balanced", clusters=read_clusters("clusters.tsv")),
    )
    loss = DualSupervisionLoss(model, pairs, data.queries, mode="dual", inbatch_teacher=colbert_teacher)
    SentenceTransformerTrainer(model=model, args=args, train_dataset=pairs_dataset(pairs, data.queries, data.corpus),
                               loss=loss).train()

The dataset's rows are the score file's pairs, in order; its ``label`` column is each row's pair number,
which sentence-transformers' collator hands to the loss untouched: the loss reads the teacher's scores, the
query and the passage ids of each row from ``pairs`` by that number.
"""

from __future__ import annotations

import functools
from typing import Any, Hashable, Iterator, Mapping, Sequence

import torch
from datasets import Dataset as HFDataset
from sentence_transformers import SentenceTransformer
from sentence_transformers.base.sampler import DefaultBatchSampler
from torch import Tensor, nn

from tasb.config import InBatchLossName, Sampler, TeacherMode
from tasb.data.records import Corpus, Qrels, Queries, ScoredPair
from tasb.models.student import BertDot
from tasb.sampling import RandomSampler, build_sampler
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.dual import DualLoss, label_masks, passage_ids


def pairs_dataset(pairs: Sequence[ScoredPair], queries: Queries, corpus: Corpus) -> HFDataset:
    """One row a pair: ``anchor`` (query), ``positive``, ``negative`` texts and ``label``, the pair's number."""
    return HFDataset.from_dict(
        {
            "anchor": [queries[pair.qid] for pair in pairs],
            "positive": [corpus[pair.pid_pos] for pair in pairs],
            "negative": [corpus[pair.pid_neg] for pair in pairs],
            "label": list(range(len(pairs))),
        }
    )


class TASBatchSampler(DefaultBatchSampler):
    """Batches of pair numbers drawn by tasb's Random, TAS or TAS-Balanced sampler.

    An epoch is as many batches as the pairs fill (``len(pairs) // batch_size``, at least one); each epoch
    draws afresh from a sampler seeded with ``seed + epoch``, so a run is reproducible from its seed.
    Build it through :func:`tas_batch_sampler`, which binds the pairs and clusters.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int,
        drop_last: bool = True,
        valid_label_columns: list[str] | None = None,
        generator: torch.Generator | None = None,
        seed: int = 0,
        *,
        pairs: Sequence[ScoredPair],
        sampler: Sampler = "tas-balanced",
        clusters: Mapping[str, Hashable] | None = None,
        clusters_per_batch: int = 1,
        margin_bins: int = 10,
    ):
        super().__init__(dataset, batch_size, drop_last, valid_label_columns, generator, seed)
        if len(dataset) != len(pairs):
            raise ValueError(f"the dataset has {len(dataset)} rows but there are {len(pairs)} pairs: build it with pairs_dataset(pairs, ...)")
        if sampler != "random" and clusters is None:
            raise ValueError(f"the {sampler} sampler needs clusters (qid -> cluster)")
        self.pairs = list(pairs)
        self.sampler = sampler
        self.clusters = clusters
        self.clusters_per_batch = clusters_per_batch
        self.margin_bins = margin_bins
        self.draw(self.seed)  # refuses bad settings now, not at the first step

    def draw(self, seed: int) -> RandomSampler:
        """A fresh tasb sampler over the pairs, seeded with ``seed``."""
        return build_sampler(self.sampler, self.pairs, self.batch_size, seed, self.clusters, self.clusters_per_batch, self.margin_bins)

    def __len__(self) -> int:
        return max(1, len(self.pairs) // self.batch_size)

    def __iter__(self) -> Iterator[list[int]]:
        sampler = self.draw(self.seed + self.epoch)
        for _ in range(len(self)):
            yield sampler.next_indices().tolist()


def tas_batch_sampler(
    pairs: Sequence[ScoredPair],
    sampler: Sampler = "tas-balanced",
    clusters: Mapping[str, Hashable] | None = None,
    clusters_per_batch: int = 1,
    margin_bins: int = 10,
) -> functools.partial:
    """The ``batch_sampler`` argument of ``SentenceTransformerTrainingArguments`` for tasb's samplers; the
    trainer supplies the dataset, batch size and seed."""
    return functools.partial(
        TASBatchSampler, pairs=pairs, sampler=sampler, clusters=clusters,
        clusters_per_batch=clusters_per_batch, margin_bins=margin_bins,
    )


class DualSupervisionLoss(nn.Module):
    """tasb's student loss (:class:`tasb.training.dual.DualLoss`) as a sentence-transformers loss.

    Args:
        model: the SentenceTransformer being trained.
        pairs: the pairs the dataset's rows were built from (:func:`pairs_dataset`), with the pairwise
            teacher's scores.
        queries: query texts by qid, for the in-batch teacher.
        mode: ``pairwise`` (eq. 6), ``in-batch`` (eq. 7) or ``dual`` (eq. 8).
        inbatch_teacher: scores each query of a batch against all of its passages (``in-batch``, ``dual``).
        inbatch_loss, alpha, score_scale, pairwise_weight, contrastive_weight, contrastive_scale: as
            :class:`~tasb.training.dual.DualLoss`.
        qrels: the judgments the label part reads (``contrastive_weight`` > 0).

    Inputs: the ``(anchor, positive, negative)`` features and the ``label`` column of :func:`pairs_dataset`.

    Relations: with ``mode="pairwise"`` and ``contrastive_weight=0`` this is sentence-transformers'
    ``MarginMSELoss`` (with ``score_scale``); the label part is its ``MultipleNegativesRankingLoss`` with
    other judged-relevant passages of the batch masked out.
    """

    def __init__(
        self,
        model: SentenceTransformer,
        pairs: Sequence[ScoredPair],
        queries: Queries,
        mode: TeacherMode = "dual",
        inbatch_teacher: ColbertTeacher | None = None,
        inbatch_loss: InBatchLossName = "margin-mse",
        alpha: float = 0.75,
        score_scale: float = 1.0,
        pairwise_weight: float = 1.0,
        contrastive_weight: float = 0.0,
        contrastive_scale: float | None = None,
        qrels: Qrels | None = None,
    ):
        super().__init__()
        self.model = model
        self.pairs = list(pairs)
        self.queries = queries
        self.inbatch_teacher = inbatch_teacher
        self.qrels = qrels or {}
        self.dual = DualLoss(
            BertDot(model), mode, inbatch_loss, alpha, score_scale, contrastive_weight, contrastive_scale, pairwise_weight
        )
        if self.dual.needs_inbatch_teacher and inbatch_teacher is None:
            raise ValueError(f"teacher mode {mode} needs an inbatch_teacher")
        if contrastive_weight > 0 and not self.qrels:
            raise ValueError("the label part (contrastive_weight > 0) needs qrels")

    def forward(self, sentence_features: Sequence[dict[str, Tensor]], labels: Tensor) -> Tensor:
        anchors, positives, negatives = (self.model(dict(features))["sentence_embedding"] for features in sentence_features)
        batch = [self.pairs[row] for row in labels.tolist()]
        device = anchors.device
        margins = torch.tensor([pair.score_pos - pair.score_neg for pair in batch], device=device)
        teacher_scores = None
        if self.dual.needs_inbatch_teacher:
            texts = [self.queries[pair.qid] for pair in batch]
            teacher_scores = self.inbatch_teacher.scores(texts, passage_ids(batch)).to(device)
        judged = also_relevant = None
        if self.dual.contrastive_weight > 0:
            judged, also_relevant = label_masks(batch, self.qrels, device)
        total, _ = self.dual.compute_loss_from_embeddings(
            anchors, torch.cat([positives, negatives]), margins, teacher_scores, judged, also_relevant
        )
        return total

    def get_config_dict(self) -> dict[str, Any]:
        """What sentence-transformers writes into the model card's loss section."""
        return {
            "mode": self.dual.mode,
            "alpha": self.dual.alpha,
            "score_scale": self.dual.score_scale,
            "pairwise_weight": self.dual.pairwise_weight,
            "contrastive_weight": self.dual.contrastive_weight,
            "contrastive_scale": self.dual.contrastive_scale,
        }

    @property
    def citation(self) -> str:
        return """@inproceedings{hofstaetter2021tasb,
    title={Efficiently Teaching an Effective Dense Retriever with Balanced Topic Aware Sampling},
    author={Hofst{\\"a}tter, Sebastian and Lin, Sheng-Chieh and Yang, Jheng-Hong and Lin, Jimmy and Hanbury, Allan},
    booktitle={SIGIR},
    year={2021}
}"""
