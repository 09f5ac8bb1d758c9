"""Fine-tuning the ColBERT teacher: listwise on judged positives vs run negatives, and/or Margin-MSE on a
pairwise score file (how the paper's ColBERT learned from BERT_CAT).

Listwise batches are groups ``[query, positive, negatives...]`` as for the cross-encoder; with
``in_batch_negatives`` each query is also scored against every other group's passages, which max-sim
makes nearly free once the passages are encoded.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Callable, Sequence

import torch
import torch.nn.functional as F

from tasb.config import ColbertConfig, check_config
from tasb.data.records import Corpus, Qrels, Queries, Run, ScoredPair
from tasb.data.scores import check_score_texts
from tasb.errors import InputError
from tasb.layout import MODEL, TEACHER_LOG
from tasb.models.cards import colbert_card
from tasb.models.colbert import ColBERT, maxsim, maxsim_pairs
from tasb.models.inference import autocast
from tasb.training.losses import margin_mse
from tasb.training.teacher_loop import check_teacher_folder, fit, group_batches, seed_everything, teacher_folder, training_groups

__all__ = ["listwise_colbert_loss", "train_colbert"]


def listwise_colbert_loss(model: ColBERT, rows: list[list[str]], queries: Queries, corpus: Corpus, in_batch: bool) -> torch.Tensor:
    """Softmax cross-entropy of each query's positive among its group (and, ``in_batch``, every group's) passages."""
    group_size = len(rows[0]) - 1
    query_vectors = model.query_tokens([queries[row[0]] for row in rows])
    passage_vectors = model.passage_tokens([corpus[pid] for row in rows for pid in row[1:]])
    scores = maxsim(query_vectors, passage_vectors)  # [b, b * group_size]
    own_positive = torch.arange(len(rows), device=scores.device) * group_size
    if not in_batch:
        own_group = own_positive[:, None] + torch.arange(group_size, device=scores.device)
        scores, own_positive = scores.gather(1, own_group), torch.zeros_like(own_positive)
    return F.cross_entropy(scores, own_positive)


def margin_mse_colbert_loss(model: ColBERT, pairs: Sequence[ScoredPair], queries: Queries, corpus: Corpus) -> torch.Tensor:
    """Margin-MSE (eq. 6) of ColBERT's margins against the score file's."""
    query_vectors = model.query_tokens([queries[p.qid] for p in pairs])
    positives = maxsim_pairs(query_vectors, model.passage_tokens([corpus[p.pid_pos] for p in pairs]))
    negatives = maxsim_pairs(query_vectors, model.passage_tokens([corpus[p.pid_neg] for p in pairs]))
    margins = torch.tensor([p.margin for p in pairs], dtype=torch.float32, device=positives.device)
    return margin_mse(positives, negatives, margins, torch.zeros_like(margins))


def train_colbert(
    config: ColbertConfig,
    queries: Queries,
    corpus: Corpus,
    output_dir: Path,
    qrels: Qrels | None = None,
    run: Run | None = None,
    scores: Sequence[ScoredPair] | None = None,
) -> ColBERT:
    """Fine-tune a ColBERT from ``config.model``; log to ``teacher_log.jsonl``, save to ``output_dir/model``.

    ``listwise`` needs ``qrels`` and a ``run`` for negatives, ``margin-mse`` needs ``scores``, ``both`` all.
    """
    output_dir = Path(output_dir)
    check_config(config)
    check_teacher_folder(output_dir)
    rng = seed_everything(config.seed)
    model = ColBERT.load(
        config.model, dim=config.dim, query_max_length=config.query_max_length,
        passage_max_length=config.passage_max_length, seed=config.seed, device=config.device,
    )
    losses = _loss_sources(config, model, rng, queries, corpus, qrels, run, scores)

    def next_loss() -> torch.Tensor:
        with autocast(config.bf16, model.device.type):
            return sum(loss() for loss in losses)

    with teacher_folder(output_dir):
        fit(model.encoder, next_loss, config, output_dir / TEACHER_LOG)
        model.passage_max_length = config.scoring_passage_max_length or config.passage_max_length
        model.save(output_dir / MODEL, card=colbert_card(config, queries, qrels, scores, log=output_dir / TEACHER_LOG))
    return model


def _loss_sources(
    config: ColbertConfig,
    model: ColBERT,
    rng: random.Random,
    queries: Queries,
    corpus: Corpus,
    qrels: Qrels | None,
    run: Run | None,
    scores: Sequence[ScoredPair] | None,
) -> list[Callable[[], torch.Tensor]]:
    sources: list[Callable[[], torch.Tensor]] = []
    if config.loss in ("listwise", "both"):
        if qrels is None or run is None:
            raise InputError("colbert.loss", "judgments and a run of negatives for the listwise loss", "none given")
        groups = training_groups(queries, corpus, qrels, run, config.negatives_depth)
        batches = group_batches(groups, config.batch_size, config.num_negatives, rng)
        sources.append(lambda: listwise_colbert_loss(model, next(batches), queries, corpus, config.in_batch_negatives))
    if config.loss in ("margin-mse", "both"):
        if not scores:
            raise InputError(config.teacher_scores or "colbert.teacher_scores", "a pairwise teacher score file for margin-mse", "none")
        check_score_texts(scores, queries, corpus, config.teacher_scores or "teacher scores", "the dataset")
        pairs = list(scores)
        sources.append(lambda: margin_mse_colbert_loss(model, rng.sample(pairs, min(config.batch_size, len(pairs))), queries, corpus))
    if not sources:
        raise InputError("colbert.loss", "listwise, margin-mse or both", config.loss)
    return sources
