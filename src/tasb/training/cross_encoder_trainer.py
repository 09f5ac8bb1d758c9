"""Fine-tuning the BERT_CAT cross-encoder teacher on judged positives and run negatives (``tasb teacher train``).

Each step draws ``batch_size`` queries (a reshuffled pass over the training queries), and per query one
judged positive and ``num_negatives`` negatives from the run's top ``negatives_depth``: a group whose
positive sits at index 0. The ``listwise`` loss is softmax cross-entropy over the group; ``pointwise``
is binary cross-entropy on every (query, passage, label) of it.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from tasb.config import TeacherConfig, check_config
from tasb.data.records import Corpus, Qrels, Queries, Run
from tasb.layout import MODEL, TEACHER_LOG
from tasb.models.cards import cross_encoder_card
from tasb.models.cross_encoder import BertCat
from tasb.models.inference import autocast
from tasb.training.teacher_loop import check_teacher_folder, fit, group_batches, seed_everything, teacher_folder, training_groups

__all__ = ["group_loss", "train_cross_encoder"]


def group_loss(logits: torch.Tensor, loss: str) -> torch.Tensor:
    """Loss of ``[queries, 1 + negatives]`` scores whose column 0 is the positive."""
    logits = logits.float()
    if loss == "listwise":
        return F.cross_entropy(logits, torch.zeros(len(logits), dtype=torch.long, device=logits.device))
    if loss == "pointwise":
        labels = torch.zeros_like(logits)
        labels[:, 0] = 1.0
        return F.binary_cross_entropy_with_logits(logits, labels)
    raise ValueError(f"unknown teacher loss {loss!r}: expected pointwise or listwise")


def _step(model: BertCat, batch: list[list[str]], queries: Queries, corpus: Corpus, config: TeacherConfig) -> torch.Tensor:
    query_texts = [queries[row[0]] for row in batch for _ in row[1:]]
    passage_texts = [corpus[pid] for row in batch for pid in row[1:]]
    with autocast(config.bf16, model.device.type):
        logits = model.logits(query_texts, passage_texts)
    return group_loss(logits.view(len(batch), -1), config.loss)


def train_cross_encoder(
    config: TeacherConfig, queries: Queries, corpus: Corpus, qrels: Qrels, run: Run, output_dir: Path
) -> BertCat:
    """Fine-tune ``config.model`` into a BERT_CAT; log to ``teacher_log.jsonl``, save to ``output_dir/model``."""
    output_dir = Path(output_dir)
    check_config(config)
    check_teacher_folder(output_dir)
    groups = training_groups(queries, corpus, qrels, run, config.negatives_depth)
    rng = seed_everything(config.seed)  # before loading: the new score head is drawn from torch's RNG
    model = BertCat.load(config.model, max_length=config.max_length, device=config.device)
    batches = group_batches(groups, config.batch_size, config.num_negatives, rng)
    with teacher_folder(output_dir):
        fit(model.model, lambda: _step(model, next(batches), queries, corpus, config), config, output_dir / TEACHER_LOG)
        model.save(output_dir / MODEL, card=cross_encoder_card(config, queries, qrels, len(groups), log=output_dir / TEACHER_LOG))
    return model
