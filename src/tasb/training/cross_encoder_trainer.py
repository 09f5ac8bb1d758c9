"""Fine-tuning the BERT_CAT teacher on judged positives and run negatives, and scoring training pairs with it.

Each step draws ``batch_size`` queries (a reshuffled pass over the training queries), and per query one
judged positive and ``num_negatives`` negatives from the run's top ``negatives_depth``: a group whose
positive sits at index 0. The ``listwise`` loss is softmax cross-entropy over the group; ``pointwise``
is binary cross-entropy on every (query, passage, label) of it.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from pathlib import Path
from typing import Callable, Iterator, Protocol

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from tasb.config import TeacherConfig
from tasb.data.pairs import negatives, positives
from tasb.data.records import Corpus, Qrels, Queries, Run
from tasb.errors import InputError
from tasb.models.cards import cross_encoder_card
from tasb.models.cross_encoder import BertCat
from tasb.models.inference import autocast
from tasb.outputs import check_folder, run_folder

LOG_FILE = "teacher_log.jsonl"
TEACHER_KIND = "teacher"

__all__ = [
    "LOG_FILE", "check_teacher_folder", "fit", "group_batches", "group_loss", "seed_everything", "teacher_folder", "train_cross_encoder",
    "training_groups",
]

# (qid, judged positives, run negatives)
Group = tuple[str, list[str], list[str]]


class _Budget(Protocol):
    learning_rate: float
    warmup_steps: int
    steps: int
    max_minutes: float | None


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


def training_groups(queries: Queries, corpus: Corpus, qrels: Qrels, run: Run, depth: int) -> list[Group]:
    """Queries with at least one judged positive and one run negative, every id checked to have text."""
    pos = positives(qrels)
    neg = negatives(run, qrels, depth)
    groups = [(qid, pos[qid], neg[qid]) for qid in sorted(pos) if neg.get(qid)]
    if not groups:
        raise InputError(None, f"queries with a judged positive and a negative in the run's top {depth}", "none")
    for qid, pos_ids, neg_ids in groups:
        if qid not in queries:
            raise InputError(None, "a text for every judged query", f"query id {qid} with no text")
        missing = next((pid for pid in pos_ids + neg_ids if pid not in corpus), None)
        if missing is not None:
            raise InputError(None, "a text for every judged or retrieved passage", f"passage id {missing} with no text")
    return groups


def group_batches(groups: list[Group], batch_size: int, num_negatives: int, rng: random.Random) -> Iterator[list[list[str]]]:
    """Endless batches of rows ``[qid, positive pid, negative pid, ...]``, one row per query."""
    order: list[Group] = []
    while True:
        batch = []
        while len(batch) < batch_size:
            if not order:
                order = rng.sample(groups, len(groups))
            qid, pos_ids, neg_ids = order.pop()
            # fewer candidates than wanted: draw with replacement so every group has the same width
            drawn = rng.sample(neg_ids, num_negatives) if len(neg_ids) >= num_negatives else rng.choices(neg_ids, k=num_negatives)
            batch.append([qid, rng.choice(pos_ids), *drawn])
        yield batch


def seed_everything(seed: int) -> random.Random:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    return random.Random(seed)


def _step(model: BertCat, batch: list[list[str]], queries: Queries, corpus: Corpus, config: TeacherConfig) -> torch.Tensor:
    query_texts = [queries[row[0]] for row in batch for _ in row[1:]]
    passage_texts = [corpus[pid] for row in batch for pid in row[1:]]
    with autocast(config.bf16):
        logits = model.logits(query_texts, passage_texts)
    return group_loss(logits.view(len(batch), -1), config.loss)


def train_cross_encoder(
    config: TeacherConfig, queries: Queries, corpus: Corpus, qrels: Qrels, run: Run, output_dir: Path
) -> BertCat:
    """Fine-tune ``config.model`` into a BERT_CAT; log to ``teacher_log.jsonl``, save to ``output_dir/model``."""
    output_dir = Path(output_dir)
    if config.num_negatives < 1:
        raise InputError("teacher.num_negatives", "at least 1 negative per positive", str(config.num_negatives))
    check_teacher_folder(output_dir)
    groups = training_groups(queries, corpus, qrels, run, config.negatives_depth)
    rng = seed_everything(config.seed)  # before loading: the new score head is drawn from torch's RNG
    model = BertCat.load(config.model, max_length=config.max_length)
    batches = group_batches(groups, config.batch_size, config.num_negatives, rng)
    with teacher_folder(output_dir):
        fit(model.model, lambda: _step(model, next(batches), queries, corpus, config), config, output_dir / LOG_FILE)
        model.save(output_dir / "model", card=cross_encoder_card(config, queries, qrels, len(groups), log=output_dir / LOG_FILE))
    return model


def check_teacher_folder(output_dir: Path) -> None:
    """Refuse ``output_dir`` for a new teacher unless it is new or empty: an earlier teacher is never trained over."""
    check_folder(output_dir, TEACHER_KIND)
    earlier = [name for name in ("model", LOG_FILE) if (output_dir / name).exists()]
    if earlier:
        raise InputError(
            output_dir, "a new or empty folder for the teacher (remove the earlier teacher or pick another folder)", f"a folder holding {earlier[0]}"
        )


@contextlib.contextmanager
def teacher_folder(output_dir: Path) -> Iterator[None]:
    """``output_dir`` held (locked) while a teacher is trained into it, checked again once held."""
    with run_folder(output_dir, TEACHER_KIND):
        check_teacher_folder(output_dir)
        yield


def fit(module: torch.nn.Module, next_loss: Callable[[], torch.Tensor], config: _Budget, log_path: Path) -> None:
    """Adam(W) with linear warmup and decay over ``config.steps``, stopped early by ``config.max_minutes``.

    ``next_loss`` draws the next batch and returns its loss; every step is logged to ``log_path``.
    """
    module.train()
    optimizer = torch.optim.AdamW(module.parameters(), lr=config.learning_rate)
    schedule = get_linear_schedule_with_warmup(optimizer, config.warmup_steps, config.steps)
    deadline = time.monotonic() + config.max_minutes * 60 if config.max_minutes is not None else float("inf")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    with open(log_path, "w", encoding="utf-8") as log, tqdm(total=config.steps, desc="teacher", unit="step") as bar:
        for step in range(1, config.steps + 1):
            loss = next_loss()
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            lr = schedule.get_last_lr()[0]
            optimizer.step()
            schedule.step()
            record = {"step": step, "loss": loss.item(), "lr": lr, "elapsed_s": round(time.monotonic() - start, 3)}
            log.write(json.dumps(record) + "\n")
            log.flush()
            bar.set_postfix(loss=f"{record['loss']:.4f}")
            bar.update()
            if time.monotonic() >= deadline:
                break
    module.eval()
