"""What a training run is built from: its held-out queries, teachers, sampler, student and device."""

from __future__ import annotations

import logging
from typing import Collection, Sequence

from tasb.config import StudentConfig, TrainConfig
from tasb.data.records import Dataset, ScoredPair
from tasb.errors import InputError
from tasb.models.student import BertDot
from tasb.data.readers import read_clusters
from tasb.sampling import BatchSampler, build_sampler
from tasb.sampling.checks import check_sampling_inputs
from tasb.sampling.background import BackgroundSampler
from tasb.training.colbert_teacher import ColbertTeacher, build_colbert_teacher
from tasb.training.distributed import World
from tasb.training.validation import ValidationSet, build_validation_set

logger = logging.getLogger(__name__)


def validation_set(
    config: TrainConfig, dataset: Dataset, scores: Sequence[ScoredPair], given: ValidationSet | None
) -> ValidationSet | None:
    if given is not None:
        return given
    if not config.validation.enabled:
        return None
    return build_validation_set(config.validation, dataset, (row.qid for row in scores))


def without_queries(scores: Sequence[ScoredPair], held_out: Collection[str]) -> list[ScoredPair]:
    kept = [row for row in scores if row.qid not in held_out]
    logger.info("validation holds out %d queries: %d of %d teacher pairs left to train on", len(held_out), len(kept), len(scores))
    return kept


def inbatch_teacher_for(
    config: TrainConfig, dataset: Dataset, scores: Sequence[ScoredPair], given: ColbertTeacher | None, student: BertDot
) -> ColbertTeacher | None:
    if config.teacher_mode == "pairwise" or given is not None:
        return given
    return build_colbert_teacher(config, dataset.corpus, scores, device=str(student.encoder.device))


def training_device(config: TrainConfig, world: World) -> str:
    """Where the student trains: ``config.device``, which under torchrun must be auto (each process its own GPU)."""
    if config.device == "auto":
        return world.device
    if world.distributed:
        raise InputError("device", "auto when torchrun starts several processes (each trains on its own GPU)", config.device)
    return config.device


def load_student(settings: StudentConfig, device: str = "cpu") -> BertDot:
    """The student a config describes, loaded fresh."""
    return BertDot.load(
        settings.model,
        pooling=settings.pooling,
        normalize=settings.normalize,
        query_max_length=settings.query_max_length,
        passage_max_length=settings.passage_max_length,
        device=device,
    )


def in_background(config: TrainConfig, sampler: BatchSampler) -> BatchSampler:
    return BackgroundSampler(sampler) if config.sampler_process else sampler


def sampler_for(config: TrainConfig, scores: Sequence[ScoredPair]) -> BatchSampler:
    """The sampler ``config`` names over ``scores``, their queries checked against the batch size and clusters first."""
    clusters = read_clusters(config.clusters) if config.sampler != "random" else None
    qids = list(dict.fromkeys(row.qid for row in scores))
    check_sampling_inputs(qids, config.batch_size, config.teacher_scores, clusters, config.clusters)
    try:
        return build_sampler(
            config.sampler, scores, config.batch_size, config.seed, clusters, config.clusters_per_batch, config.margin_bins
        )
    except ValueError as err:
        # clusters_per_batch or margin_bins out of range for these queries: a setting to fix, not a bug
        raise InputError("config", f"{config.sampler} settings that fit the data", str(err)) from None
