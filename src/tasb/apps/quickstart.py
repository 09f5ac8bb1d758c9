"""``tasb quickstart``: the whole pipeline on one BEIR dataset, sized for a 2-core CPU.

BM25 → initial student (zero-shot) → ColBERT (and optionally cross-encoder) teacher → teachers judged by
re-ranking → pairwise teacher scores → student training with pairwise and in-batch teaching → index →
search → evaluate, all in one run folder. sentence-transformers' own recipe trains on the same triples and
budget before the teachers are judged: it is the row the student has to beat, and, as a member of the
teacher ensemble, what the judged labels teach the student through its teacher.

A slice of the judged training queries is held out from every teacher and student: the student is
validated on it from step 0, so the model handed back never validates below the one it started from.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import shutil
import time
from pathlib import Path

from tasb.config import DataConfig, QuickstartConfig, TrainConfig, ValidationConfig, save_config
from tasb.data import Dataset, Run, ensemble, load_dataset, training_pairs, write_run, write_scores
from tasb.errors import InputError
from tasb.evaluation import evaluate
from tasb.evaluation.report import markdown_table
from tasb.fsutil import atomic_write, write_json
from tasb.models.cards import write_card
from tasb.models.colbert import PassageTokenCache
from tasb.models.student import BertDot
from tasb.outputs import run_folder
from tasb.retrieval.bm25 import BM25
from tasb.retrieval.index import DenseIndex, build_index, search
from tasb.retrieval.rerank import heads, with_new_heads
from tasb.retrieval.scorers import BM25Scorer, ColbertScorer, DotScorer, EnsembleScorer, Scorer, cross_encoder_scorer, score_pairs
from tasb.training.colbert_trainer import train_colbert
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.st_baseline import BASELINE_NAME, train_sentence_transformers
from tasb.training.cross_encoder_trainer import train_cross_encoder
from tasb.training.trainer import load_student, train
from tasb.training.validation import ValidationSet, build_validation_set

DEFAULT_DATASET = "scifact"
ENSEMBLE_MEMBERS = ("colbert", "cross-encoder", "bm25", "bi-encoder", "baseline")
QUICKSTART_KIND = "quickstart"


class _Stages:
    """Prints each stage as it starts and keeps its wall-clock minutes for the results table."""

    def __init__(self, total: int):
        self.total = total
        self.done = 0
        self.minutes: dict[str, float] = {}

    @contextlib.contextmanager
    def __call__(self, name: str):
        self.done += 1
        print(f"[{self.done}/{self.total}] {name} ...", flush=True)
        start = time.perf_counter()
        yield
        self.minutes[name] = (time.perf_counter() - start) / 60
        print(f"[{self.done}/{self.total}] {name}: {self.minutes[name]:.1f} min", flush=True)


def _load_splits(config: QuickstartConfig) -> tuple[Dataset, Dataset]:
    data = config.data or DEFAULT_DATASET
    try:
        return load_dataset(data, config.train_split), load_dataset(data, config.test_split)
    except InputError as err:
        if config.data is None:
            raise InputError(
                None, "SciFact in BEIR layout: pass --data PATH/TO/scifact or set TASB_DATA_DIR to its parent"
            ) from err
        raise


def _index_and_search(
    student: BertDot, model_name: str, dataset: Dataset, folder: Path, config: QuickstartConfig
) -> tuple[DenseIndex, Run]:
    index = build_index(student, dataset.corpus, folder, bf16=config.bf16, model_name=model_name)
    return index, search(index, student, dataset.queries, k=1000)


def _check_ensemble(weights: dict[str, float]) -> None:
    unknown = sorted(set(weights) - set(ENSEMBLE_MEMBERS))
    if unknown:
        raise InputError("teacher_ensemble", f"weights for {', '.join(ENSEMBLE_MEMBERS)}", unknown[0])
    if not any(weight > 0 for weight in weights.values()):
        raise InputError("teacher_ensemble", "at least one member with a positive weight", str(weights))


def _needs_colbert(config: QuickstartConfig) -> bool:
    return config.teacher_ensemble.get("colbert", 0) > 0 or config.teacher_mode != "pairwise"


def _needs_baseline(config: QuickstartConfig) -> bool:
    return config.baseline or config.teacher_ensemble.get("baseline", 0) > 0


def validation_size(judged_queries: int) -> int:
    """Held-out queries for a collection with this many judged training queries: a tenth, 20 to 100 of them.

    Fewer than 20 cannot tell a better model from a worse one; past 100 the rest teach more than they measure.
    A collection too small to spare 20 while keeping 4 in 5 for training holds out a fifth.
    """
    if judged_queries < 5:
        return 0
    return max(1, judged_queries // 5) if judged_queries < 100 else min(100, max(20, round(judged_queries / 10)))


def _validation(config: QuickstartConfig, train_set: Dataset) -> ValidationSet | None:
    judged = train_set.judged_queries()
    size = validation_size(len(judged)) if config.validation_queries is None else config.validation_queries
    if size == 0:
        return None
    return build_validation_set(dataclasses.replace(_validation_settings(config), queries=size), train_set, judged)


def _validation_settings(config: QuickstartConfig) -> ValidationConfig:
    # the held-out set and the trainer's evaluations share these; patience never ends a quickstart early
    return ValidationConfig(every=config.validation_every, depth=config.validation_depth, patience=1_000_000)


def _train_config(config: QuickstartConfig, out: Path) -> TrainConfig:
    return TrainConfig(
        output_dir=str(out / "student"),
        data=DataConfig(data=config.data, split=config.train_split),
        teacher_scores=str(out / "teacher_scores.tsv"),
        student=config.student,
        teacher_mode=config.teacher_mode,
        inbatch_loss=config.inbatch_loss,
        alpha=config.alpha,
        colbert_teacher=str(out / "colbert" / "model") if _needs_colbert(config) else "",
        colbert_scale=config.colbert_scale,
        batch_size=config.batch_size,
        steps=config.train_steps,
        max_minutes=config.train_max_minutes,
        learning_rate=config.learning_rate,
        score_scale=config.score_scale,
        contrastive_weight=config.contrastive_weight,
        contrastive_scale=config.contrastive_scale,
        pairwise_weight=config.pairwise_weight,
        warmup_steps=config.warmup_steps,
        checkpoint_every=config.train_steps,
        keep_checkpoints=1,
        log_every=5,
        bf16=config.bf16,
        seed=config.seed,
        validation=_validation_settings(config),
    )


def run_quickstart(config: QuickstartConfig) -> Path:
    """Run every stage into ``config.output_dir``, held (locked) throughout; an earlier quickstart there is run over."""
    _check_ensemble(config.teacher_ensemble)
    out = Path(config.output_dir)
    with run_folder(out, QUICKSTART_KIND):
        return _run_stages(config, out)


def _start_over(config: QuickstartConfig, out: Path) -> None:
    """Clear an earlier quickstart's trained folders, once the inputs have loaded: a failed start leaves them be.

    Teachers and the trainer rightly refuse to train over an earlier run."""
    (out / "DONE").unlink(missing_ok=True)
    for name in ("student", "colbert", "teacher", "baseline"):
        shutil.rmtree(out / name, ignore_errors=True)
    save_config(config, out / "config.yaml")


def _run_stages(config: QuickstartConfig, out: Path) -> Path:
    weights = config.teacher_ensemble
    stage = _Stages(total=5 + _needs_colbert(config) + (weights.get("cross-encoder", 0) > 0) + _needs_baseline(config))
    rows: dict[str, dict[str, float]] = {}
    notes: dict[str, str] = {}

    with stage("load data and BM25"):
        train_set, test_set = _load_splits(config)
        validation = _validation(config, train_set)
        _start_over(config, out)
        held_out = set(validation.queries) if validation is not None else set()
        with atomic_write(out / "validation_qids.txt") as handle:
            handle.writelines(f"{qid}\n" for qid in sorted(held_out))
        # teachers never see the validation queries: a student validated on what its teacher learned looks better than it is
        teaching_qrels = {qid: judged for qid, judged in train_set.qrels.items() if qid not in held_out}
        bm25 = BM25(train_set.corpus)
        depth = max(config.negatives_depth, config.cross_encoder.negatives_depth, config.colbert.negatives_depth)
        bm25_train = bm25.search(train_set.judged_queries(), k=depth)
        bm25_test = bm25.search(test_set.queries, k=1000)
        write_run(bm25_test, out / "bm25.test.trec", tag="bm25")
        rows["BM25"] = evaluate(bm25_test, test_set.qrels)

    with stage("initial student, zero-shot"):
        student = load_student(config.student)
        initial_index, initial_run = _index_and_search(
            student, config.student.model, test_set, out / "index-initial", config
        )
        write_run(initial_run, out / "initial.test.trec", tag="initial")
        rows["initial student (zero-shot)"] = evaluate(initial_run, test_set.qrels)
        negatives_run = (
            search(initial_index, student, train_set.judged_queries(), k=config.negatives_depth)
            if config.negatives_from == "initial-student"
            else bm25_train
        )

    members: dict[str, Scorer] = {
        "bm25": BM25Scorer(bm25),
        "bi-encoder": DotScorer(
            student, bf16=config.bf16, passage_vectors=dict(zip(initial_index.ids, initial_index.embeddings))
        ),
    }
    colbert_passages = None
    if _needs_colbert(config):
        with stage("ColBERT teacher training"):
            colbert = train_colbert(
                config.colbert, train_set.queries, train_set.corpus, out / "colbert",
                qrels=teaching_qrels, run=bm25_train,
            )
        # one cache of passage token vectors serves re-ranking, pair scoring and the in-batch teacher
        colbert_passages = PassageTokenCache(colbert, bf16=config.bf16)
        members["colbert"] = ColbertScorer(colbert, colbert_passages)
    # a cross-encoder weighted 0 would cost its training time and teach nothing
    if weights.get("cross-encoder", 0) > 0:
        with stage("cross-encoder teacher training"):
            cross_encoder = train_cross_encoder(
                config.cross_encoder, train_set.queries, train_set.corpus, teaching_qrels, bm25_train, out / "teacher"
            )
        members["cross-encoder"] = cross_encoder_scorer(cross_encoder, bf16=config.bf16)
    pairs = training_pairs(
        teaching_qrels, negatives_run, depth=config.negatives_depth, per_query=config.negatives_per_query, seed=config.seed
    )
    if _needs_baseline(config):
        with stage(f"{BASELINE_NAME} baseline, index, search"):
            baseline_folder = train_sentence_transformers(
                _train_config(config, out), train_set, pairs, out / "baseline", exclude=held_out
            )
            baseline_name = f"{BASELINE_NAME} (same triples, same budget)"
            baseline, baseline_index, rows[baseline_name] = _evaluate_trained(baseline_folder, "baseline", test_set, out, config)
            notes[baseline_name] = _steps_note(baseline_folder)
        members["baseline"] = DotScorer(
            baseline, bf16=config.bf16, passage_vectors=dict(zip(baseline_index.ids, baseline_index.embeddings)), name="baseline"
        )
    active = {name: members[name] for name, weight in weights.items() if weight > 0}

    with stage("teachers judged by re-ranking BM25"):
        top = heads(bm25_test, config.teacher_eval_depth)
        label = f"re-ranks BM25 top-{config.teacher_eval_depth}"
        member_scores = {name: scorer.score(top, test_set.queries, test_set.corpus) for name, scorer in active.items()}
        for name in ("colbert", "cross-encoder"):
            if name in member_scores:
                rows[f"teacher: {name} alone"] = evaluate(with_new_heads(bm25_test, member_scores[name]), test_set.qrels)
                notes[f"teacher: {name} alone"] = label
                folder = out / ("colbert" if name == "colbert" else "teacher") / "model"
                write_card(folder, {"metrics": {f"{test_set.source} {config.test_split} queries, {label}": rows[f"teacher: {name} alone"]}})
        teacher_run = with_new_heads(bm25_test, ensemble(list(member_scores.values()), [weights[n] for n in active]))
        write_run(teacher_run, out / "teacher.test.trec", tag="teacher")
        name = "teacher: ensemble " + " + ".join(f"{weights[n]:g}×{n}" for n in active)
        rows[name] = evaluate(teacher_run, test_set.qrels)
        notes[name] = label

    with stage("teacher scores training pairs"):
        scorer = EnsembleScorer(list(active.values()), [weights[n] for n in active])
        scored = score_pairs(scorer, pairs, train_set.queries, train_set.corpus)
        write_scores(scored, out / "teacher_scores.tsv")

    with stage("student training, index, search"):
        train_config = _train_config(config, out)
        inbatch_teacher = None
        if config.teacher_mode != "pairwise":
            training_pids = [pid for row in scored for pid in (row.pid_pos, row.pid_neg)]
            inbatch_teacher = ColbertTeacher.build(
                colbert, train_set.corpus, training_pids, train_config.colbert_cache, train_config.colbert_cache_max_gb,
                config.colbert_scale, config.bf16, passages=colbert_passages,
            )
        run_folder = train(
            train_config, train_set, scored, student=student, inbatch_teacher=inbatch_teacher, validation=validation
        )
        student_name = f"trained student (TAS-B recipe, {_teaching(config)})"
        *_, rows[student_name] = _evaluate_trained(run_folder, "student", test_set, out, config)
        notes[student_name] = _steps_note(run_folder)

    table = markdown_table(rows, notes)
    timings = ", ".join(f"{name} {minutes:.1f} min" for name, minutes in stage.minutes.items())
    report = f"# Quickstart on {test_set.source} ({config.test_split}: {len(test_set.queries)} queries)\n\n{table}\n\nTime: {timings}.\n"
    with atomic_write(out / "results.md") as handle:
        handle.write(report)
    write_json(out / "metrics.json", {"results": rows, "minutes": stage.minutes})
    (out / "DONE").touch()
    print("\n" + report)
    return out


def _evaluate_trained(
    run_folder: Path, name: str, test_set: Dataset, out: Path, config: QuickstartConfig
) -> tuple[BertDot, DenseIndex, dict[str, float]]:
    trained_path = str((run_folder / "model").resolve())
    model = BertDot.load(trained_path)
    index, test_run = _index_and_search(model, trained_path, test_set, out / f"index-{name}", config)
    write_run(test_run, out / f"{name}.test.trec", tag=name)
    metrics = evaluate(test_run, test_set.qrels)
    write_card(trained_path, {"metrics": {f"{test_set.source} {config.test_split} queries, full retrieval": metrics}})
    return model, index, metrics


def _steps_note(run_folder: Path) -> str:
    metrics = json.loads((run_folder / "metrics.json").read_text(encoding="utf-8"))
    note = f"{metrics['steps']} steps, {metrics['seconds'] / 60:.1f} min"
    if metrics.get("best_step") is not None:
        note += f"; kept step {metrics['best_step']} (validation {metrics['validation_metric']} {metrics['best_validation']:.3f})"
    return note


def _teaching(config: QuickstartConfig) -> str:
    inbatch = f"in-batch {config.inbatch_loss} from ColBERT"
    pairwise = [] if config.pairwise_weight == 0 else [_weighted(config.pairwise_weight, "pairwise Margin-MSE")]
    parts = {
        "pairwise": pairwise,
        "in-batch": [inbatch],
        "dual": pairwise + [_weighted(config.alpha, inbatch)],
    }[config.teacher_mode]
    if config.contrastive_weight > 0:
        parts.append(_weighted(config.contrastive_weight, "labels"))
    return " + ".join(parts)


def _weighted(weight: float, part: str) -> str:
    return part if weight == 1 else f"{weight:g} × {part}"
