"""The alternative a user already has: sentence-transformers' own trainer and MultipleNegativesRankingLoss.

The same initial model, fine-tuned on the same (query, judged positive, hard negative) triples the student's
score file holds (teacher scores ignored), for the same step and time budget, with the library's documented
recipe: in-batch negatives plus the hard negative, cosine similarity × 20, no duplicate texts in a batch,
10% linear warm-up then linear decay, bf16. It is what tasb's student has to beat to be worth training.

A run folder holds ``model/`` (a sentence-transformers folder with tasb's query length), ``metrics.json``
(steps, seconds, what stopped it) and, written last, ``DONE``.
"""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path
from typing import Iterable, Sequence

from datasets import Dataset as HFDataset
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
from sentence_transformers.sentence_transformer.training_args import BatchSamplers
from transformers import TrainerCallback

from tasb.config import TrainConfig
from tasb.data.records import Dataset, Pair, ScoredPair
from tasb.errors import InputError
from tasb.fsutil import atomic_dir, write_json
from tasb.layout import CHECKPOINT_STATE, DONE, METRICS, MODEL, checkpoint_dir, mark
from tasb.models.inference import resolve_device
from tasb.training.trainer import load_student

__all__ = ["BASELINE_NAME", "train_sentence_transformers"]

BASELINE_NAME = "sentence-transformers MNRL"

logger = logging.getLogger(__name__)


def triples(pairs: Sequence[Pair | ScoredPair], dataset: Dataset, exclude: Iterable[str] = ()) -> dict[str, list[str]]:
    """(query, positive, negative) texts of every pair whose positive is judged relevant, once each; scores are not read."""
    held_out = set(exclude)
    seen: set[tuple[str, str, str]] = set()
    columns: dict[str, list[str]] = {"anchor": [], "positive": [], "negative": []}
    for row in pairs:
        key = (row.qid, row.pid_pos, row.pid_neg)
        if row.qid in held_out or key in seen or dataset.qrels.get(row.qid, {}).get(row.pid_pos, 0) <= 0:
            continue
        seen.add(key)
        columns["anchor"].append(dataset.queries[row.qid])
        columns["positive"].append(dataset.corpus[row.pid_pos])
        columns["negative"].append(dataset.corpus[row.pid_neg])
    return columns


def train_sentence_transformers(
    config: TrainConfig,
    dataset: Dataset,
    pairs: Sequence[Pair | ScoredPair],
    folder: str | Path,
    exclude: Iterable[str] = (),
    snapshot_every: int | None = None,
) -> Path:
    """Fine-tune ``config.student`` with sentence-transformers for ``config.steps`` / ``config.max_minutes``.

    Uses ``config``'s student, batch size, learning rate, budget, bf16 and seed; the queries in ``exclude``
    (a validation set) are not trained on. With ``snapshot_every`` the model is also saved every that many
    steps to ``checkpoints/step-N/model`` with its training seconds in ``checkpoints/step-N/state.json``,
    where a learning curve reads it as it reads a tasb run's checkpoints. Returns ``folder``.
    """
    folder = Path(folder)
    columns = triples(pairs, dataset, exclude)
    if not columns["anchor"]:
        raise InputError(config.teacher_scores or "scores", "pairs whose positive is judged relevant", "none")
    student = load_student(config.student)
    model = student.encoder
    args = SentenceTransformerTrainingArguments(
        output_dir=str(folder / ".hf-trainer"),
        max_steps=config.steps,
        per_device_train_batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        # the library's examples warm up over the first 10% of the steps (warmup_ratio 0.1)
        warmup_steps=round(0.1 * config.steps),
        bf16=config.bf16,
        # the trainer places the model itself: on the CPU, or on its GPU when config.device is one
        use_cpu=resolve_device(config.device) == "cpu",
        batch_sampler=BatchSamplers.NO_DUPLICATES,
        save_strategy="no",
        report_to="none",
        logging_steps=config.log_every,
        seed=config.seed,
        data_seed=config.seed,
        dataloader_drop_last=True,
        dataloader_pin_memory=False,
    )
    budget = _TimeBudget(config.max_minutes)
    trainer = SentenceTransformerTrainer(
        model=model,
        args=args,
        train_dataset=HFDataset.from_dict(columns),
        loss=MultipleNegativesRankingLoss(model),
        callbacks=[budget] + ([_Snapshots(student, folder, snapshot_every)] if snapshot_every else []),
    )
    started = time.monotonic()
    trainer.train()
    seconds = time.monotonic() - started
    shutil.rmtree(folder / ".hf-trainer", ignore_errors=True)
    student.save(folder / MODEL)
    steps = trainer.state.global_step
    write_json(
        folder / METRICS,
        {
            "steps": steps,
            "seconds": round(seconds, 3),
            "stopped_by": "time" if budget.stopped else "steps",
            "triples": len(columns["anchor"]),
            "recipe": "MultipleNegativesRankingLoss (scale 20, cosine), NO_DUPLICATES batches, warmup_ratio 0.1, linear decay",
        },
    )
    mark(folder, DONE)
    logger.info("sentence-transformers baseline: %d steps in %.0f s", steps, seconds)
    return folder


class _TimeBudget(TrainerCallback):
    """Stops the trainer once ``max_minutes`` have passed since its first step (None: no time limit)."""

    def __init__(self, max_minutes: float | None):
        self.budget_s = max_minutes * 60 if max_minutes is not None else None
        self.started: float | None = None
        self.stopped = False

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if self.budget_s is not None and time.monotonic() - self.started >= self.budget_s:
            control.should_training_stop = True
            self.stopped = True
        return control


class _Snapshots(TrainerCallback):
    """Saves the model every ``every`` steps, with the seconds trained so far, for learning curves."""

    def __init__(self, student, folder: Path, every: int):
        self.student, self.folder, self.every = student, folder, every
        self.started = time.monotonic()
        self.paused_s = 0.0

    def on_train_begin(self, args, state, control, **kwargs):
        self.started = time.monotonic()

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step % self.every:
            return control
        saving = time.monotonic()
        elapsed = saving - self.started - self.paused_s
        # built whole under a temp name: a kill mid-save leaves no step folder without its state
        with atomic_dir(checkpoint_dir(self.folder, state.global_step)) as snapshot:
            self.student.save(snapshot / MODEL)
            write_json(snapshot / CHECKPOINT_STATE, {"progress": {"step": state.global_step, "elapsed_s": round(elapsed, 3)}})
        # saving is not training: the curve's minutes leave it out
        self.paused_s += time.monotonic() - saving
        return control
