"""Distillation of the BERT_DOT student: pairwise Margin-MSE (eq. 6), in-batch ColBERT teaching (eq. 7), or both (eq. 8).

Batches come from a sampler drawn without end; training stops on a step or time budget. A run folder
holds ``config.yaml``, ``train_log.jsonl``, ``checkpoints/step-N/``, the final ``model/``,
``metrics.json`` and, written last, ``DONE``. A checkpoint carries everything the next step depends on
(weights, Adam moments, schedule, the sampler's position, every RNG), so a resumed run ends with the
same weights as one that was never interrupted.

With a validation set (paper Sec. 4.3) the student re-ranks held-out queries before the first step and
every ``validation.every`` steps into ``validation.jsonl``; the best model so far waits in ``best/``,
training stops after ``validation.patience`` evaluations without a better score, and ``model/`` is the best
model rather than the last.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Iterator, Sequence

import torch
from tqdm.auto import tqdm
from transformers import get_constant_schedule_with_warmup, set_seed

from tasb.config import TrainConfig, check_config, save_config
from tasb.data.records import Dataset, ScoredPair
from tasb.data.scores import check_score_texts
from tasb.errors import InputError
from tasb.evaluation.metrics import check_measures
from tasb.evaluation.plots import validation_plot
from tasb.fsutil import write_json
from tasb.layout import (
    BEST, CHECKPOINTS, CONFIG, DONE, METRICS, MODEL, TENSORBOARD, TRAIN_LOG, VALIDATION_LOG, VALIDATION_PLOT, is_marked, mark,
    unmark,
)
from tasb.models.cards import student_card, write_card
from tasb.models.inference import autocast
from tasb.models.student import BertDot
from tasb.outputs import run_folder
from tasb.sampling import BatchSampler
from tasb.sampling.background import BackgroundSampler
from tasb.training.checkpoints import (
    checkpoint_scales, copy_folder, newest_checkpoint, restore_checkpoint, save_checkpoint, truncate_log,
)
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.distributed import World, init_world, leave_world
from tasb.training.dual import build_loss, label_masks, passage_ids
from tasb.training.progress import Progress, Rate, expected_steps
from tasb.training.scales import resolve_scales
from tasb.training.setup import (
    in_background, inbatch_teacher_for, load_student, sampler_for, training_device, validation_set, without_queries,
)
from tasb.training.state import Run, log_line, open_train_log
from tasb.training.tracking import Tracking
from tasb.training.validation import EarlyStopping, ValidationSet, validation_score

RUN_KIND = "training run"

__all__ = ["check_train_config", "load_student", "train", "train_step"]

logger = logging.getLogger(__name__)


def train(
    config: TrainConfig,
    dataset: Dataset,
    scores: Sequence[ScoredPair],
    student: BertDot | None = None,
    resume: bool = False,
    sampler: BatchSampler | None = None,
    inbatch_teacher: ColbertTeacher | None = None,
    validation: ValidationSet | None = None,
    world: World | None = None,
    start_validation: float | None = None,
) -> Path:
    """Train the student on ``scores`` and return the run folder ``config.output_dir``.

    ``student`` defaults to ``config.student`` loaded fresh; it is trained in place. ``sampler`` defaults
    to the one ``config.sampler`` names. ``inbatch_teacher`` (in-batch and dual modes) defaults to
    ``config.colbert_teacher`` with the passage cache ``config.colbert_cache`` asks for. With ``resume``
    the run continues from the newest checkpoint in the run folder (a folder without one starts from
    scratch, unless it holds a finished run that took steps: that is refused); without it, a folder holding an
    earlier run is refused rather than overwritten. The current folder, a folder holding files no run wrote, and
    a folder another process is training in are refused.
    ``validation`` defaults to the held-out set ``config.validation`` describes (none when it holds out no
    queries); its queries' pairs are dropped from ``scores`` so the student never trains on them.
    ``start_validation`` is the starting student's score on it when the caller has measured it (the quickstart
    chose the start by it): step 0 logs it instead of scoring the held-out queries again in the minutes budget.

    Under ``torchrun`` (or with ``world``) each process trains on its slice of every global batch of
    ``batch_size`` (see :mod:`tasb.training.distributed`); rank 0 alone writes the run folder.
    """
    folder = Path(config.output_dir)
    owns_world = world is None
    world = init_world() if world is None else world
    check_train_config(config)
    if config.batch_size % world.size:
        raise InputError("config", f"batch_size divisible by the {world.size} training processes", str(config.batch_size))
    check_score_texts(scores, dataset.queries, dataset.corpus, config.teacher_scores, dataset.source or "the dataset")
    if start_validation is not None and validation is None:
        # the score belongs to the caller's held-out queries; the trainer would otherwise draw its own
        raise InputError("start_validation", "the validation set it was measured on", "no validation set")
    with _held_run_folder(folder, resume, world):
        _train_in_folder(
            folder, config, dataset, scores, student, resume, sampler, inbatch_teacher, validation, world, start_validation
        )
    if owns_world:
        leave_world(world)
    return folder


@contextlib.contextmanager
def _held_run_folder(folder: Path, resume: bool, world: World) -> Iterator[None]:
    """The run folder, held (locked) by rank 0 for the whole run; a folder holding an earlier run needs ``resume``.

    Every rank hears of a refusal, so none is left waiting for the others."""
    with contextlib.ExitStack() as held:
        refusal = None
        if world.is_main:
            try:
                held.enter_context(run_folder(folder, RUN_KIND))
                if not resume:
                    _refuse_earlier_run(folder)
                elif _trained_without_checkpoint(folder):
                    # training from scratch would replace the finished run's model and logs
                    raise InputError(folder, "a run to resume: one with a checkpoint, or unfinished", "a finished run without checkpoints")
            except InputError as err:
                refusal = err
        if world.share(refusal is not None):
            raise refusal or InputError(folder, "a run folder rank 0 can write to", "one it refused")
        yield


def _train_in_folder(
    folder: Path,
    config: TrainConfig,
    dataset: Dataset,
    scores: Sequence[ScoredPair],
    student: BertDot | None,
    resume: bool,
    sampler: BatchSampler | None,
    inbatch_teacher: ColbertTeacher | None,
    validation: ValidationSet | None,
    world: World,
    start_validation: float | None = None,
) -> None:
    # rank 0's choice for every rank: resuming several processes needs the run folder on a shared file system
    checkpoint = world.share(newest_checkpoint(folder) if resume and world.is_main else None)
    if resume and checkpoint is None:
        logger.warning("no checkpoint in %s: training from scratch", folder)
    world.barrier()  # every rank has looked at the folder before rank 0 writes to it
    validation = validation_set(config, dataset, scores, validation)
    if validation is not None:
        scores = without_queries(scores, validation.queries)
    set_seed(config.seed)
    student = load_student(config.student, training_device(config, world)) if student is None else student
    inbatch_teacher = inbatch_teacher_for(config, dataset, scores, inbatch_teacher, student)
    # fitted on the starting student, once: a resumed run takes them from its checkpoint
    fitted = checkpoint_scales(checkpoint) if checkpoint is not None else {}
    teaching = world.share(resolve_scales(
        dataclasses.replace(config, **fitted), student, dataset, scores, inbatch_teacher, config.batch_size, config.seed, config.bf16,
        config.student.training_passage_max_length,
    ))
    if inbatch_teacher is not None:
        inbatch_teacher.scale = teaching.colbert_scale
    optimizer = torch.optim.Adam(student.encoder.parameters(), lr=config.learning_rate)
    run = Run(
        folder=folder,
        config=teaching,
        dataset=dataset,
        student=student,
        loss_fn=build_loss(teaching, student, dataset.qrels, dataset.source),
        inbatch_teacher=inbatch_teacher,
        sampler=in_background(config, sampler_for(config, scores) if sampler is None else sampler),
        optimizer=optimizer,
        # the paper trains at a constant rate; a scheduler object keeps warmup (and any other schedule) one line away
        scheduler=get_constant_schedule_with_warmup(optimizer, config.warmup_steps),
        progress=Progress(),
        validation=validation,
        early_stopping=EarlyStopping(config.validation.patience),
        world=world,
        tracking=Tracking(folder / TENSORBOARD if config.tensorboard and world.is_main else None),
        start_validation=start_validation,
    )
    if checkpoint is not None:
        restore_checkpoint(checkpoint, run)
    if world.is_main:
        truncate_log(folder / TRAIN_LOG, run.progress.step)
        # without a checkpoint even the step-0 evaluation is redone
        truncate_log(folder / VALIDATION_LOG, run.progress.step if checkpoint is not None else -1)
        unmark(folder, DONE)
        save_config(config, folder / CONFIG)

    try:
        stopped_by = _loop(run)
    finally:
        run.tracking.close()
        if isinstance(run.sampler, BackgroundSampler):
            run.sampler.close()
    if world.is_main:
        _finish(run, stopped_by, training_queries=len({pair.qid for pair in scores}))


def _finish(run: Run, stopped_by: str, training_queries: int | None = None) -> None:
    """The final (or best validated) model and metrics, then ``DONE``: its presence means everything else is whole."""
    metrics = {
        "steps": run.progress.step,
        "score_scale": run.config.score_scale,
        "colbert_scale": run.config.colbert_scale,
        "final_loss": run.progress.final_loss(),
        "seconds": round(run.progress.elapsed_s, 3),
        "stopped_by": stopped_by,
    }
    if run.validation is None:
        run.student.save(run.folder / MODEL)
    else:
        # best/ stays: a resumed run with a larger budget compares against it
        copy_folder(run.folder / BEST, run.folder / MODEL)
        stopping = run.early_stopping
        metrics.update(
            best_step=stopping.best_step, best_validation=stopping.best_value, validation_metric=run.config.validation.metric
        )
        _plot_validation(run)
    write_json(run.folder / METRICS, metrics)
    held_out = len(run.validation.queries) if run.validation is not None else None
    write_card(run.folder / MODEL, student_card(run.config, metrics, training_queries, held_out, run.loss_fn))
    mark(run.folder, DONE)


def _loop(run: Run) -> str:
    """Train until ``steps``, ``max_minutes`` or early stopping; return which one stopped it."""
    config, progress = run.config, run.progress
    budget_s = config.max_minutes * 60 if config.max_minutes is not None else math.inf
    started = time.monotonic() - progress.elapsed_s
    rate = Rate()
    last_checkpoint = progress.step
    stopped_by = "steps"
    world = run.world
    if run.validation is not None and run.early_stopping.exhausted:
        return "early-stopping"  # a resumed run that had already run out of patience
    run.student.encoder.train()
    if run.validation is not None and run.early_stopping.evaluations == 0 and world.is_main:
        # a resumed run's restored weights are not the start the caller scored
        _validate(run, started, known=run.start_validation if run.progress.step == 0 else None)
    bar = tqdm(total=config.steps, initial=progress.step, unit="step", desc="train", dynamic_ncols=True, disable=not world.is_main)
    first_step, loop_started = progress.step, time.monotonic()
    try:
        with open_train_log(run) as log:
            while progress.step < config.steps:
                if world.agree(time.monotonic() - started >= budget_s):
                    stopped_by = "time"
                    break
                loss, parts = _train_step(run, next(run.sampler))
                progress.step += 1
                progress.window_loss += loss
                for name, value in parts.items():
                    progress.window_parts[name] = progress.window_parts.get(name, 0.0) + value
                progress.window_steps += 1
                progress.elapsed_s = time.monotonic() - started
                rate.tick()
                bar.total = expected_steps(
                    config.steps, progress.step, progress.step - first_step, time.monotonic() - loop_started, progress.elapsed_s, budget_s
                )
                bar.update(1)
                bar.set_postfix(loss=f"{progress.window_loss / progress.window_steps:.4f}", refresh=False)
                if progress.step % config.log_every == 0:
                    log_line(log, run, rate.take())
                due = run.validation is not None and progress.step % config.validation.every == 0
                exhausted = due and world.agree(world.is_main and _validate(run, started))
                if progress.step % config.checkpoint_every == 0:
                    if world.is_main:
                        save_checkpoint(run)
                    last_checkpoint = progress.step
                if exhausted:
                    stopped_by = "early-stopping"
                    break
    finally:
        bar.close()
    if world.is_main and run.validation is not None and run.early_stopping.last_step != progress.step:
        # steps after the last evaluation might have made the best model
        _validate(run, started)
    if world.is_main and progress.step != last_checkpoint:
        # the last steps are kept too: a run stopped by its budget can be resumed with a larger one
        save_checkpoint(run)
    return stopped_by


def _validate(run: Run, started: float, known: float | None = None) -> bool:
    """Score the held-out queries (or take the ``known`` score), keep the model if it is the best so far; True when
    patience has run out."""
    settings, progress = run.config.validation, run.progress
    value = validation_score(run.student, run.validation, settings.metric, settings.rel, run.config.bf16) if known is None else known
    improved = run.early_stopping.update(progress.step, value)
    if improved:
        run.student.save(run.folder / BEST)
    progress.elapsed_s = time.monotonic() - started
    line = {"step": progress.step, settings.metric: value, "best": improved, "elapsed_s": round(progress.elapsed_s, 3)}
    with (run.folder / VALIDATION_LOG).open("a", encoding="utf-8") as log:
        log.write(json.dumps(line) + "\n")
    run.tracking.scalars("validation", progress.step, {settings.metric: value})
    logger.info("validation at step %d: %s %.4f%s", progress.step, settings.metric, value, " (best)" if improved else "")
    return run.early_stopping.exhausted


def _plot_validation(run: Run) -> None:
    metric = run.config.validation.metric
    lines = [json.loads(line) for line in (run.folder / VALIDATION_LOG).read_text(encoding="utf-8").splitlines()]
    curve = ([line["step"] for line in lines], [line[metric] for line in lines])
    best = (run.early_stopping.best_step, run.early_stopping.best_value)
    validation_plot(run.folder / VALIDATION_PLOT, {run.folder.name: curve}, {run.folder.name: best}, metric)


def _train_step(run: Run, batch: list[ScoredPair]) -> tuple[float, dict[str, float]]:
    """One step on the global ``batch``: this rank encodes its slice, the loss covers the whole batch."""
    student, texts, world = run.student, run.dataset, run.world
    local = world.local(batch)
    query_texts = [texts.queries[pair.qid] for pair in local]
    queries = student.tokenize(query_texts, student.query_max_length)
    # positives then negatives: one encoder pass over the slice's 2b passages
    passages = student.tokenize(
        [texts.corpus[pid] for pid in passage_ids(local)], run.config.student.training_passage_max_length or student.passage_max_length
    )
    margins = torch.tensor([pair.margin for pair in batch], dtype=torch.float32, device=student.encoder.device)
    teacher_scores = None
    if run.inbatch_teacher is not None:
        # this rank's queries against every passage of the global batch; the rows of all ranks make the (b, 2b) matrix
        teacher_scores = world.gather(run.inbatch_teacher.scores(query_texts, passage_ids(batch)).to(student.encoder.device))
    judged, also_relevant = label_masks(batch, texts.qrels, student.encoder.device) if run.loss_fn.contrastive_weight > 0 else (None, None)
    with autocast(run.config.bf16, student.encoder.device.type):
        query_vectors, passage_vectors = student.embed(queries), student.embed(passages)
        n = len(local)
        passage_vectors = torch.cat([world.gather(passage_vectors[:n]), world.gather(passage_vectors[n:])])
        loss, parts = run.loss_fn.compute_loss_from_embeddings(
            world.gather(query_vectors), passage_vectors, margins, teacher_scores, judged, also_relevant
        )
    value = loss.item()
    if not math.isfinite(value):
        raise FloatingPointError(
            f"loss became {value} at step {run.progress.step + 1}: lower learning_rate or check the teacher scores"
        )
    loss.backward()
    world.average_gradients(student.encoder.parameters())
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    return value, parts


def _trained_without_checkpoint(folder: Path) -> bool:
    """A finished run that took steps and kept no checkpoint (a run of 0 steps holds only its start: nothing to lose)."""
    if not is_marked(folder, DONE) or newest_checkpoint(folder) is not None:
        return False
    return json.loads((folder / METRICS).read_text(encoding="utf-8")).get("steps", 0) > 0


def _refuse_earlier_run(folder: Path) -> None:
    earlier = [name for name in (TRAIN_LOG, CHECKPOINTS, MODEL, DONE, VALIDATION_LOG) if (folder / name).exists()]
    if earlier:
        raise InputError(
            folder, "a new or empty run folder (resume to continue the run in it)", f"a folder holding {earlier[0]}"
        )


def check_train_config(config: TrainConfig) -> None:
    """Refuse settings out of range or that cannot train together before anything slow starts (fields may have
    been set after the config was built), and a validation metric ir-measures does not know."""
    check_config(config)
    check_measures([config.validation.metric], "validation.metric")


def train_step(
    config: TrainConfig, dataset: Dataset, student: BertDot, inbatch_teacher: ColbertTeacher | None = None
) -> Callable[[list[ScoredPair]], float]:
    """``train``'s step as a function of the batch, for benchmarks timing steps on batches they pick.

    Each call trains ``student`` in place on one global batch of pairs whose texts are in ``dataset``, as
    ``train`` does (the loss ``config`` describes, Adam, the schedule, autocast), and returns the loss.
    Nothing is written and no sampler, validation or checkpoint is involved; one process.
    ``inbatch_teacher`` defaults as in ``train`` (built from ``config.colbert_teacher`` for in-batch modes).
    """
    if config.score_scale is None or config.colbert_scale is None:
        raise InputError("score_scale" if config.score_scale is None else "colbert_scale", "a number: train_step has no score file to fit it on", "null")
    optimizer = torch.optim.Adam(student.encoder.parameters(), lr=config.learning_rate)
    run = Run(
        folder=Path(config.output_dir),
        config=config,
        dataset=dataset,
        student=student,
        loss_fn=build_loss(config, student, dataset.qrels, dataset.source),
        inbatch_teacher=inbatch_teacher_for(config, dataset, (), inbatch_teacher, student),
        sampler=None,
        optimizer=optimizer,
        scheduler=get_constant_schedule_with_warmup(optimizer, config.warmup_steps),
        progress=Progress(),
        validation=None,
        early_stopping=EarlyStopping(config.validation.patience),
        world=World(),
    )
    student.encoder.train()

    def step(batch: list[ScoredPair]) -> float:
        loss, _ = _train_step(run, batch)
        run.progress.step += 1
        return loss

    return step


