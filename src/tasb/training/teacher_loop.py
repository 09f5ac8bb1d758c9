"""What both teacher trainers share: groups of a judged positive and run negatives, the teacher's run folder, and the
fit loop (AdamW, linear warm-up and decay, a step or time budget, every step logged to ``teacher_log.jsonl``).

``cross_encoder_trainer`` trains BERT_CAT and ``colbert_trainer`` ColBERT with them; each brings its own loss.
"""

from __future__ import annotations

import contextlib
import json
import random
import time
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm
from transformers import get_linear_schedule_with_warmup

from tasb.config import TeacherRecipe
from tasb.data.pairs import negatives, positives
from tasb.data.records import Corpus, Qrels, Queries, Run
from tasb.errors import InputError
from tasb.layout import MODEL, TEACHER_LOG
from tasb.outputs import check_folder, run_folder

TEACHER_KIND = "teacher"

__all__ = ["check_teacher_folder", "fit", "group_batches", "seed_everything", "teacher_folder", "training_groups"]

# (qid, judged positives, run negatives)
Group = tuple[str, list[str], list[str]]


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


def check_teacher_folder(output_dir: Path) -> None:
    """Refuse ``output_dir`` for a new teacher unless it is new or empty: an earlier teacher is never trained over."""
    check_folder(output_dir, TEACHER_KIND)
    earlier = [name for name in (MODEL, TEACHER_LOG) if (output_dir / name).exists()]
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


def fit(module: torch.nn.Module, next_loss: Callable[[], torch.Tensor], config: TeacherRecipe, log_path: Path) -> None:
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
