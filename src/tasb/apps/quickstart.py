"""``tasb quickstart``: the whole pipeline on one BEIR dataset, sized for a 2-core CPU.

BM25 → initial student (zero-shot) → ColBERT (and optionally cross-encoder) teacher → teachers judged by
re-ranking → pairwise teacher scores → student training with pairwise and in-batch teaching → index →
search → evaluate, all in one run folder. sentence-transformers' own recipe trains on the same triples and
budget before the teachers are judged: it is the row the student has to beat, and, as a member of the
teacher ensemble, what the judged labels teach the student through its teacher.

A slice of the judged training queries is held out from the training of every teacher and the student. By
default the teacher ensemble's weights are chosen on it, the student starts from whichever of the initial model
and the baseline validates higher on it, and is validated on it from step 0, so the model handed back never
validates below either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import typer

from tasb import layout
from tasb.apps.command import tasb_command
from tasb.apps.options import DATA_DIR, DEVICE, described
from tasb.config import (
    AT_LEAST_0, AT_LEAST_1, POSITIVE, ColbertConfig, DataConfig, Optimisation, StudentConfig, TeacherConfig, TeacherRecipe, Teaching,
    TrainConfig, ValidationConfig, check_config, save_config, values_of,
)
from tasb.errors import InputError
from tasb.fsutil import atomic_write, remove_dir, swap_dir, write_json
from tasb.outputs import run_folder

if TYPE_CHECKING:
    from tasb.data import Dataset, Qrels, Run
    from tasb.models.student import BertDot
    from tasb.retrieval.index import DenseIndex
    from tasb.retrieval.scorers import Scorer
    from tasb.training.validation import ValidationSet, WeightFit

DEFAULT_DATASET = "scifact"
ENSEMBLE_MEMBERS = ("colbert", "cross-encoder", "bm25", "bi-encoder", "baseline")
QUICKSTART_KIND = "quickstart"


@dataclasses.dataclass
class QuickstartConfig(Teaching, Optimisation):
    """``tasb quickstart``: BM25 → teachers → student → index → search → evaluate, sized for a 2-core CPU.

    The student's loss (``Teaching``: pairwise, in-batch or dual, eq. 8, the in-batch teacher being the trained
    ColBERT) and optimiser are the student's recipe's, with the defaults below. Measured here (9 min each, same
    score file): pairwise .690 nDCG@10 / R@100 .928, dual .669 / .935 (colbert_scale .5), dual .653 (scale 1)."""

    output_dir: str = "runs/quickstart"
    data: str | None = None
    train_split: str = "train"
    test_split: str = "test"
    # where the student's training negatives come from: the trained baseline's top-k, the start's own near misses
    # (the baseline itself trains on the initial student's; when it loses the start to the initial model on
    # validation, the initial student's), the initial student's top-k, or BM25's. Student from
    # the baseline, fitted scale, seeds 42 / 43, 81 held-out SciFact queries: validation nDCG@10 .792 / .791 from
    # the baseline's negatives, .795 / .764 from the initial student's (docs/student.md). Cold-start students
    # (9 minutes, earlier teacher): initial student's .675 test nDCG@10, BM25's .639
    negatives_from: Literal["baseline", "initial-student", "bm25"] = "baseline"
    negatives_depth: int = 30
    # null: from the data, so that the student's steps meet each teacher-scored pair about once, at least 6 (SciFact's
    # 728 teaching queries: 6) and at most all of negatives_depth (80 queries: all 30). Repeating 552 pairs 7 times on
    # a 100-query SciFact slice took the student's validation nDCG@10 from .691 to .631 by step 100; 2,650 pairs, .684
    negatives_per_query: int | None = None
    # ColBERT from all-MiniLM-L6-v2's own token space (dim 0), listwise on BM25 negatives; ~8 s a step here
    colbert: ColbertConfig = dataclasses.field(
        default_factory=lambda: ColbertConfig(dim=0, steps=60, max_minutes=8.0, warmup_steps=5)
    )
    # ~11 s a step here (8 queries x 8 passages of 256 tokens); only trained when its ensemble weight is > 0
    cross_encoder: TeacherConfig = dataclasses.field(
        default_factory=lambda: TeacherConfig(steps=40, max_minutes=6.0, warmup_steps=4)
    )
    # weights of the per-query normalised scores averaged into the pairwise teacher. "baseline" is the
    # sentence-transformers baseline, trained on the labels first; "bi-encoder" the initial student. Re-ranking
    # BM25's top-100 of the 81 held-out SciFact queries, ColBERT alone .721, + 0.25 BM25 .747, the baseline alone
    # .754, and 0.25 ColBERT + 0.5 BM25 + 1 baseline .806, the best of weights in {0, .25, .5, 1} (docs/student.md).
    # A member weighted 0 is not trained
    teacher_ensemble: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"colbert": 0.25, "bm25": 0.5, "baseline": 1.0, "bi-encoder": 0.0, "cross-encoder": 0.0}
    )
    # choose the weights again on the held-out queries (the trainer's validation candidates): every member the
    # quickstart has (the initial student and BM25 always; a baseline or ColBERT weighted 0 that trains anyway for
    # another use too) weighted from {0, .25, .5, 1}, the best replacing teacher_ensemble's weights only if choosing
    # it beats them on queries that did not choose it (leave-one-out, paired t-test over those queries, p < .05);
    # false: the weights as set. TREC-DL's pool (18 held-out queries): as set .537, the initial student alone .691,
    # the best, 1 initial + 1 ColBERT + 0.5 baseline, .732 on its own queries, .701 left out (p .013): fitted.
    # SciFact (81): as set .799, the best .817 on its own queries, .789 left out: kept (docs/student.md)
    fit_teacher_ensemble: bool = True
    teacher_rerank_depth: int = 100
    student: StudentConfig = dataclasses.field(default_factory=StudentConfig)
    # where the student's training starts: the initial model, the sentence-transformers baseline once it has trained
    # (it is a teacher member; its minutes count as the teacher's), or whichever of the two validates higher on the
    # held-out queries (the baseline when none are held out). Validation counts the starting model too, so the
    # student handed back never validates below its start. Trained on 73 queries of TREC-DL's pool, the baseline
    # fell from .658 to .450 nDCG@10 and validated .571 against the initial model's .691 (docs/student.md)
    student_start: Literal["initial", "baseline", "best-validated"] = "best-validated"
    # ColBERT's in-batch margins are about twice the cosine student's (x score_scale 10): least squares gives .49
    colbert_scale: float | None = 0.5
    # the default student normalises (cosine scores), the teacher's margins are z-scores. null: fitted when training
    # starts, the RMS of the teacher's margins over the starting student's (the baseline: ~6.1; all-MiniLM-L6-v2:
    # 11.3). Student from the baseline, seeds 42 / 43, 81 held-out queries: validation nDCG@10 .795 / .764 fitted,
    # .767 / .771 at the hand-set 10 (docs/student.md)
    score_scale: float | None = None
    # ~2.8-3.5 s a step here at batch 16 with bf16: 170-210 steps fit in the 10 minutes (the baseline gets the same)
    train_steps: int = 250
    train_max_minutes: float | None = 10.0
    batch_size: int = 16
    # 5e-5 over 2e-5: validation nDCG@10 .760 vs .748 at 150 steps (docs/student.md); the baseline gets the same
    learning_rate: float = 5e-5
    # judged training queries no teacher or student trains on: the teacher's weights and the student's start are
    # chosen on them, and the student is validated on them from step 0 (its best validated model is kept, the
    # starting one included); null: a tenth of the judged
    # queries, 20 to 100 (a fifth below 100 queries); 0: none
    validation_queries: int | None = None
    # the held-out queries re-rank BM25's top validation_rerank_depth joined with their judged passages
    validation_rerank_depth: int = 20
    validation_every: int = 100
    # sentence-transformers' own recipe (MultipleNegativesRankingLoss) on the same triples and budget, as a row
    baseline: bool = True

    renamed = {"teacher_eval_depth": "teacher_rerank_depth", "validation_depth": "validation_rerank_depth"}
    limits = {
        "negatives_depth": AT_LEAST_1, "negatives_per_query": AT_LEAST_1, "teacher_ensemble": AT_LEAST_0, "teacher_rerank_depth": AT_LEAST_1,
        "train_steps": AT_LEAST_0, "train_max_minutes": POSITIVE, "validation_queries": AT_LEAST_0, "validation_rerank_depth": AT_LEAST_1,
        "validation_every": AT_LEAST_1,
    }

    def validate(self) -> None:
        super().validate()
        unknown = sorted(set(self.teacher_ensemble) - set(ENSEMBLE_MEMBERS))
        if unknown:
            raise InputError("teacher_ensemble", f"weights for {', '.join(ENSEMBLE_MEMBERS)}", unknown[0])
        if not any(weight > 0 for weight in self.teacher_ensemble.values()):
            raise InputError("teacher_ensemble", "at least one member with a positive weight", str(self.teacher_ensemble))


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


def load_splits(config: QuickstartConfig) -> tuple[Dataset, Dataset]:
    from tasb.data import load_dataset

    data = config.data or DEFAULT_DATASET
    try:
        return load_dataset(data, config.train_split), load_dataset(data, config.test_split)
    except InputError as err:
        if config.data is None:
            raise InputError(
                None, "SciFact in BEIR layout: pass --data PATH/TO/scifact or set TASB_DATA_DIR to its parent"
            ) from err
        raise


def _index_and_search(student: BertDot, model_name: str, dataset: Dataset, folder: Path, config: QuickstartConfig) -> tuple[DenseIndex, Run]:
    from tasb.retrieval.index import build_index, search

    index = build_index(student, dataset.corpus, folder, bf16=config.bf16, model_name=model_name)
    return index, search(index, student, dataset.queries, k=1000)


def _on_device(recipe: TeacherRecipe, config: QuickstartConfig) -> TeacherRecipe:
    """A teacher's recipe on the quickstart's device, unless the recipe names one of its own."""
    return recipe if recipe.device != "auto" else dataclasses.replace(recipe, device=config.device)


def _needs_colbert(config: QuickstartConfig) -> bool:
    return config.teacher_ensemble.get("colbert", 0) > 0 or config.teacher_mode != "pairwise"


def _needs_baseline(config: QuickstartConfig) -> bool:
    return (
        config.baseline
        or config.teacher_ensemble.get("baseline", 0) > 0
        or config.student_start != "initial"
        or config.negatives_from == "baseline"
    )


def held_out_validation(config: QuickstartConfig, train_set: Dataset) -> ValidationSet | None:
    """The judged training queries the quickstart holds out from teachers and student, with their candidates."""
    from tasb.training.validation import build_validation_set, held_out_size

    judged = train_set.judged_queries()
    size = held_out_size(len(judged)) if config.validation_queries is None else config.validation_queries
    if size == 0:
        return None

    return build_validation_set(dataclasses.replace(validation_settings(config), queries=size), train_set, judged)


def validation_settings(config: QuickstartConfig) -> ValidationConfig:
    # the held-out set and the trainer's evaluations share these; patience never ends a quickstart early
    return ValidationConfig(every=config.validation_every, rerank_depth=config.validation_rerank_depth, patience=1_000_000)


def student_train_config(config: QuickstartConfig, out: Path) -> TrainConfig:
    """The student's recipe: the quickstart's loss and optimiser, its budget, its data and teachers' files."""
    return TrainConfig(
        **values_of(config, Teaching),
        **values_of(config, Optimisation),
        output_dir=str(out / "student"),
        data=DataConfig(data=config.data, split=config.train_split),
        teacher_scores=str(out / TEACHER_SCORES),
        student=config.student,
        colbert_teacher=str(out / "colbert" / layout.MODEL) if _needs_colbert(config) else "",
        steps=config.train_steps,
        max_minutes=config.train_max_minutes,
        checkpoint_every=config.train_steps,
        keep_checkpoints=1,
        log_every=5,
        validation=validation_settings(config),
    )


def run_quickstart(config: QuickstartConfig) -> Path:
    """Run every stage into ``config.output_dir``, held (locked) throughout; an earlier quickstart there is run over."""
    check_config(config)
    out = Path(config.output_dir)
    _check_models_outside(config, out)
    with run_folder(out, QUICKSTART_KIND):
        return _run_stages(config, out)


TRAINED_FOLDERS = ("student", "colbert", "teacher", "baseline")
TEACHER_SCORES = "teacher_scores.tsv"
RANKED = ("bm25", "initial", "teacher", "baseline", "student")  # each ranks the test queries into <name>.test.trec
INDEXED = ("initial", "baseline", "student")  # each indexes the corpus into index-<name>/


def ranked_path(out: Path, name: str) -> Path:
    return out / f"{name}.test.trec"


def index_path(out: Path, name: str) -> Path:
    return out / f"index-{name}"


def quickstart_entries() -> frozenset[str]:
    """Every name a quickstart writes into its folder. A rerun sets these aside; anything else there is the user's,
    left where it is."""
    return frozenset({
        layout.CONFIG, layout.DONE, layout.VALIDATION_QIDS, layout.RESULTS, layout.METRICS, TEACHER_SCORES, *TRAINED_FOLDERS,
        *(ranked_path(Path(), name).name for name in RANKED), *(index_path(Path(), name).name for name in INDEXED),
    })


def _check_models_outside(config: QuickstartConfig, out: Path) -> None:
    """A starting model inside what a rerun sets aside would be gone before it loads."""
    own = [out.resolve() / name for name in quickstart_entries() | {layout.PREVIOUS}]
    for key, model in (("student.model", config.student.model), ("colbert.model", config.colbert.model),
                       ("cross_encoder.model", config.cross_encoder.model)):
        path = Path(model).resolve()
        if any(path == folder or folder in path.parents for folder in own):
            raise InputError(key, f"a model outside the quickstart's own folders in {out} (a rerun sets them aside)", model)


def _start_over(config: QuickstartConfig, out: Path) -> None:
    """Clear the way for a rerun, once the inputs have loaded: a failed start leaves the folder be.

    A finished run moves whole to ``previous/`` (its config copied: the folder is recognised by it) until this run
    is DONE, so a rerun that fails (Ctrl-C, a full disk) does not lose the last finished run. An unfinished run's
    trained folders are deleted: teachers and the trainer rightly refuse to train over them. A kill between any two
    steps is finished by the next rerun: the staging folder is marked before the run folder loses its DONE, and
    becomes ``previous/`` only once everything is in it."""
    staging, previous = out / f".{layout.PREVIOUS}.staging", out / layout.PREVIOUS
    if layout.is_marked(out, layout.DONE):
        staging.mkdir(exist_ok=True)
        shutil.copy2(out / layout.CONFIG, staging / layout.CONFIG)
        layout.mark(staging, layout.DONE)
        layout.unmark(out, layout.DONE)
    if layout.is_marked(staging, layout.DONE):
        for name in quickstart_entries() - {layout.CONFIG}:
            if (out / name).exists():
                (out / name).rename(staging / name)
        swap_dir(staging, previous)
    for name in TRAINED_FOLDERS:
        shutil.rmtree(out / name, ignore_errors=True)
    if previous.exists():
        print(f"the last finished quickstart stays in {previous} until this run finishes", flush=True)
    save_config(config, out / layout.CONFIG)


def _run_stages(config: QuickstartConfig, out: Path) -> Path:
    from tasb.data import ensemble, training_pairs, write_run, write_scores
    from tasb.evaluation import evaluate
    from tasb.evaluation.tables import results_table
    from tasb.models.cards import write_card
    from tasb.models.colbert import PassageTokenCache
    from tasb.retrieval.bm25 import BM25
    from tasb.retrieval.index import search
    from tasb.retrieval.rerank import heads, with_new_heads
    from tasb.retrieval.scorers import BM25Scorer, ColbertScorer, DotScorer, EnsembleScorer, cross_encoder_scorer, score_pairs
    from tasb.training.colbert_teacher import build_colbert_teacher
    from tasb.training.colbert_trainer import train_colbert
    from tasb.training.cross_encoder_trainer import train_cross_encoder
    from tasb.training.st_baseline import BASELINE_NAME, train_sentence_transformers
    from tasb.training.trainer import load_student, train

    stage = _Stages(total=5 + _needs_colbert(config) + (config.teacher_ensemble.get("cross-encoder", 0) > 0) + _needs_baseline(config))
    rows: dict[str, dict[str, float]] = {}
    notes: dict[str, str] = {}
    judged_beside: dict[str, float | int | str] = {}  # the teacher beside the student's start, when queries are held out

    with stage("load data and BM25"):
        train_set, test_set = load_splits(config)
        validation = held_out_validation(config, train_set)
        _start_over(config, out)
        held_out = set(validation.queries) if validation is not None else set()
        with atomic_write(out / layout.VALIDATION_QIDS) as handle:
            handle.writelines(f"{qid}\n" for qid in sorted(held_out))
        # no teacher trains on the validation queries: a student validated on what its teacher learned looks better than it is
        teaching_qrels = {qid: judged for qid, judged in train_set.qrels.items() if qid not in held_out}
        bm25 = BM25(train_set.corpus)
        depth = max(config.negatives_depth, config.cross_encoder.negatives_depth, config.colbert.negatives_depth)
        bm25_train = bm25.search(train_set.judged_queries(), k=depth)
        bm25_test = bm25.search(test_set.queries, k=1000)
        write_run(bm25_test, ranked_path(out, "bm25"), tag="bm25")
        rows["BM25"] = evaluate(bm25_test, test_set.qrels)

    with stage("initial student, zero-shot"):
        student = load_student(config.student, config.device)
        initial_index, initial_run = _index_and_search(
            student, config.student.model, test_set, index_path(out, "initial"), config
        )
        write_run(initial_run, ranked_path(out, "initial"), tag="initial")
        rows["initial student (zero-shot)"] = evaluate(initial_run, test_set.qrels)
        negatives_run = (
            bm25_train
            if config.negatives_from == "bm25"
            else search(initial_index, student, train_set.judged_queries(), k=config.negatives_depth)
        )

    members: dict[str, Scorer] = {
        "bm25": BM25Scorer(bm25),
        "bi-encoder": DotScorer(
            student, bf16=config.bf16, passage_vectors=dict(zip(initial_index.ids, initial_index.embeddings))
        ),
    }
    colbert, colbert_passages = None, None
    if _needs_colbert(config):
        with stage("ColBERT teacher training"):
            colbert = train_colbert(
                _on_device(config.colbert, config), train_set.queries, train_set.corpus, out / "colbert",
                qrels=teaching_qrels, run=bm25_train,
            )
        # one cache of passage token vectors serves re-ranking, pair scoring and the in-batch teacher
        colbert_passages = PassageTokenCache(colbert, bf16=config.bf16)
        members["colbert"] = ColbertScorer(colbert, colbert_passages)
    # a cross-encoder weighted 0 would cost its training time and teach nothing
    if config.teacher_ensemble.get("cross-encoder", 0) > 0:
        with stage("cross-encoder teacher training"):
            cross_encoder = train_cross_encoder(
                _on_device(config.cross_encoder, config), train_set.queries, train_set.corpus, teaching_qrels, bm25_train, out / "teacher"
            )
        members["cross-encoder"] = cross_encoder_scorer(cross_encoder, bf16=config.bf16)
    per_query = negatives_per_query(config, teaching_qrels)
    pairs = training_pairs(teaching_qrels, negatives_run, depth=config.negatives_depth, per_query=per_query, seed=config.seed)
    start, validated_starts = "initial", {}
    if _needs_baseline(config):
        with stage(f"{BASELINE_NAME} baseline, index, search"):
            baseline_folder = train_sentence_transformers(
                student_train_config(config, out), train_set, pairs, out / "baseline", exclude=held_out
            )
            baseline, baseline_index, baseline_metrics = evaluate_trained(baseline_folder, "baseline", test_set, out, config)
            members["baseline"] = DotScorer(
                baseline, bf16=config.bf16, passage_vectors=dict(zip(baseline_index.ids, baseline_index.embeddings)), name="baseline"
            )
            start, validated_starts = choose_start(config, members, validation)
            baseline_name = f"{BASELINE_NAME} ({baseline_shares(config, start)})"
            rows[baseline_name] = baseline_metrics
            notes[baseline_name] = steps_note(baseline_folder)
            if remined_by_baseline(config, start):
                baseline_negatives = search(baseline_index, baseline, train_set.judged_queries(), k=config.negatives_depth)
                pairs = training_pairs(teaching_qrels, baseline_negatives, depth=config.negatives_depth, per_query=per_query, seed=config.seed)

    with stage("teachers judged by re-ranking BM25"):
        weights, teacher_held_out, fit = teacher_weights(config, members, validation)
        active = {name: members[name] for name in weights}
        top = heads(bm25_test, config.teacher_rerank_depth)
        label = f"re-ranks BM25 top-{config.teacher_rerank_depth}"
        # a trained teacher left out of the ensemble still gets its row: the table says what it would have taught
        judged = [name for name in members if name in weights or name in ("colbert", "cross-encoder")]
        member_scores = {name: members[name].score(top, test_set.queries, test_set.corpus) for name in judged}
        for name in ("colbert", "cross-encoder"):
            if name in member_scores:
                rows[f"teacher: {name} alone"] = evaluate(with_new_heads(bm25_test, member_scores[name]), test_set.qrels)
                notes[f"teacher: {name} alone"] = label
                folder = out / ("colbert" if name == "colbert" else "teacher") / layout.MODEL
                write_card(folder, {"metrics": {f"{test_set.source} {config.test_split} queries, {label}": rows[f"teacher: {name} alone"]}})
        teacher_run = with_new_heads(bm25_test, ensemble([member_scores[n] for n in active], [weights[n] for n in active]))
        write_run(teacher_run, ranked_path(out, "teacher"), tag="teacher")
        name = "teacher: ensemble " + " + ".join(f"{weights[n]:g}×{n}" for n in active)
        rows[name] = evaluate(teacher_run, test_set.qrels)
        notes[name] = label + fit_note(fit)
        teacher_name = name

    with stage("teacher scores training pairs"):
        scorer = EnsembleScorer(list(active.values()), [weights[n] for n in active])
        scored = score_pairs(scorer, pairs, train_set.queries, train_set.corpus)
        write_scores(scored, out / TEACHER_SCORES)

    with stage("student training, index, search"):
        train_config = student_train_config(config, out)
        if start == "baseline":
            # the student's own config names the weights it started from, so its folder and card say so
            start_from = dataclasses.replace(config.student, model=str((baseline_folder / layout.MODEL).resolve()))
            train_config = dataclasses.replace(train_config, student=start_from)
            student = load_student(start_from, config.device)
        # the trained ColBERT teaches in-batch with the passage cache it re-ranked with
        inbatch_teacher = build_colbert_teacher(
            train_config, train_set.corpus, scored, model=colbert, passages=colbert_passages
        )
        run_folder = train(
            train_config, train_set, scored, student=student, inbatch_teacher=inbatch_teacher, validation=validation,
            start_validation=validated_starts.get(start),
        )
        started = ", from the baseline" if start == "baseline" else ""
        student_name = f"trained student (TAS-B recipe, {_teaching(config)}{started})"
        *_, rows[student_name] = evaluate_trained(run_folder, "student", test_set, out, config)
        notes[student_name] = steps_note(run_folder)
        if validated_starts:
            notes[student_name] += "; start chosen on the held-out queries: " + ", ".join(
                f"{name} {value:.3f}" for name, value in validated_starts.items()
            )
        if teacher_held_out is not None:
            judged_beside = {**_beside_start(teacher_held_out, validation, run_folder, config), **validated_starts}
            notes[teacher_name] += f"; held-out queries {judged_beside['teacher']:.3f}, the student's start {judged_beside['student start']:.3f}"

    table = results_table(rows, notes)
    timings = ", ".join(f"{name} {minutes:.1f} min" for name, minutes in stage.minutes.items())
    report = f"# Quickstart on {test_set.source} ({config.test_split}: {len(test_set.queries)} queries)\n\n{table}\n\nTime: {timings}.\n"
    with atomic_write(out / layout.RESULTS) as handle:
        handle.write(report)
    write_json(out / layout.METRICS, {
        "results": rows, "minutes": stage.minutes, "held_out": judged_beside, "teacher_weights": weights,
        "teacher_fit": dataclasses.asdict(fit) if fit else None,
    })
    layout.mark(out, layout.DONE)
    remove_dir(out / layout.PREVIOUS)
    print("\n" + report)
    return out


def choose_start(
    config: QuickstartConfig, members: dict[str, Scorer], validation: ValidationSet | None
) -> tuple[Literal["initial", "baseline"], dict[str, float]]:
    """Where the student starts, with both candidates' held-out scores when ``best-validated`` chose it.

    Trained on a few queries, the baseline can end below the model it started from; the student's own
    validation only guards its start, so the initial model is a candidate too. Ties keep the baseline.
    Both are scored from their indexes' passage vectors (``members``' "bi-encoder" and "baseline"), as the
    trainer validates (up to bf16 rounding), so the student's step 0 need not be scored again."""
    from tasb.training.validation import scorer_validation_score

    if config.student_start != "best-validated":
        return config.student_start, {}
    if validation is None:
        return "baseline", {}
    settings = validation_settings(config)
    scores = {
        start: scorer_validation_score(members[member], validation, settings.metric, settings.rel)
        for start, member in (("initial", "bi-encoder"), ("baseline", "baseline"))
    }
    return ("initial" if scores["initial"] > scores["baseline"] else "baseline"), scores


def remined_by_baseline(config: QuickstartConfig, start: str) -> bool:
    """Whether the student's negatives are the trained baseline's top-k: as set, unless the baseline lost the start
    to the initial model on validation, whose own near misses the student then trains on, as the baseline did."""
    return config.negatives_from == "baseline" and not (config.student_start == "best-validated" and start == "initial")


def baseline_shares(config: QuickstartConfig, start: str) -> str:
    """What the baseline row has in common with the student: its budget, and its start and triples where it does."""
    shared = ["the student's start"] if start == "baseline" else []
    shared += [] if remined_by_baseline(config, start) else ["same triples"]
    return ", ".join([*shared, "same budget"])


MIN_NEGATIVES_PER_QUERY = 6


def negatives_per_query(config: QuickstartConfig, teaching_qrels: Qrels) -> int:
    """``negatives_per_query``, or when null enough that the student's ``train_steps`` batches meet each pair about once."""
    from tasb.data.pairs import positives

    if config.negatives_per_query is not None:
        return config.negatives_per_query
    judged_positives = sum(len(pids) for pids in positives(teaching_qrels).values())
    wanted = math.ceil(config.train_steps * config.batch_size / max(judged_positives, 1))
    return max(MIN_NEGATIVES_PER_QUERY, min(wanted, config.negatives_depth))


def evaluate_trained(
    run_folder: Path, name: str, test_set: Dataset, out: Path, config: QuickstartConfig
) -> tuple[BertDot, DenseIndex, dict[str, float]]:
    from tasb.data import write_run
    from tasb.evaluation import evaluate
    from tasb.models.cards import write_card
    from tasb.models.student import BertDot

    trained_path = str((run_folder / layout.MODEL).resolve())
    model = BertDot.load(trained_path, device=config.device)
    index, test_run = _index_and_search(model, trained_path, test_set, index_path(out, name), config)
    write_run(test_run, ranked_path(out, name), tag=name)
    metrics = evaluate(test_run, test_set.qrels)
    write_card(trained_path, {"metrics": {f"{test_set.source} {config.test_split} queries, full retrieval": metrics}})
    return model, index, metrics


def teacher_weights(
    config: QuickstartConfig, members: dict[str, Scorer], validation: ValidationSet | None
) -> tuple[dict[str, float], float | None, WeightFit | None]:
    """The teacher's members with their weights, its score on the held-out queries, and how the weights were fitted.

    The teacher is scored as the trainer validates the student. A teacher's test row re-ranks BM25's candidates and a
    student's retrieves from the corpus: not comparable. Here teacher, start and student are judged on the same
    candidates; which is ahead depends on them (docs/student.md). Fitting on them lets the initial student into the
    teacher where the labels' members fall below it: a collection like its own training data (docs/student.md).
    A fitted teacher's score is the fit's leave-one-out score: its own score on the queries that chose it reads high."""
    from tasb.training.validation import best_weights, ensemble_per_query, mean

    as_set = {name: weight for name, weight in config.teacher_ensemble.items() if weight > 0 and name in members}
    if validation is None:
        return as_set, None, None
    settings = validation_settings(config)
    candidates = members if config.fit_teacher_ensemble else as_set
    scores = {name: members[name].score(validation.candidates, validation.queries, validation.corpus) for name in candidates}
    if not config.fit_teacher_ensemble:
        return as_set, mean(ensemble_per_query(scores, as_set, validation.qrels, settings.metric, settings.rel)), None
    fit = best_weights(scores, validation.qrels, settings.metric, settings.rel, prior=as_set)
    return fit.weights, fit.value, fit


def fit_note(fit: WeightFit | None) -> str:
    """The teacher row's word on its weights: fitted, the grid's best as set, or kept as set though the grid's best
    validated higher."""
    if fit is None:
        return ""
    left_out = f"{fit.cross_validated:.3f} by leave-one-out"
    if fit.replaced:
        return f"; weights fitted on the held-out queries ({left_out}, as set {fit.prior_value:.3f}: p {fit.p:.2g})"
    if fit.best_is_prior:
        return f"; weights as set, the held-out queries' best ({fit.best_value:.3f})"
    verdict = "not apart from" if fit.cross_validated > fit.prior_value else "not above"
    return f"; weights as set (the held-out queries' best, {fit.best_value:.3f}, {left_out}, {verdict} their {fit.prior_value:.3f}: p {fit.p:.2g})"


def _beside_start(teacher: float, validation: ValidationSet, run_folder: Path, config: QuickstartConfig) -> dict[str, float | int | str]:
    """The teacher's held-out score beside the student's start: the trainer's own validation of step 0."""
    metric = validation_settings(config).metric
    start = json.loads((run_folder / layout.VALIDATION_LOG).read_text(encoding="utf-8").splitlines()[0])
    return {"metric": metric, "queries": len(validation.queries), "teacher": teacher, "student start": start[metric]}


def steps_note(run_folder: Path) -> str:
    metrics = json.loads((run_folder / layout.METRICS).read_text(encoding="utf-8"))
    note = f"{metrics['steps']} steps, {metrics['seconds'] / 60:.1f} min"
    if metrics.get("best_step") is not None:
        note += f"; kept step {metrics['best_step']} (validation {metrics['validation_metric']} {metrics['best_validation']:.3f})"
    return note


def _teaching(config: QuickstartConfig) -> str:
    inbatch = f"in-batch {config.inbatch_loss} from ColBERT"
    pairwise = [] if config.pairwise_weight == 0 else [_weighted(config.pairwise_weight, "pairwise Margin-MSE")]
    parts = {"pairwise": pairwise, "in-batch": [inbatch], "dual": pairwise + [_weighted(config.alpha, inbatch)]}[config.teacher_mode]
    if config.contrastive_weight > 0:
        parts.append(_weighted(config.contrastive_weight, "labels"))
    return " + ".join(parts)


def _weighted(weight: float, part: str) -> str:
    return part if weight == 1 else f"{weight:g} × {part}"


@tasb_command(
    QuickstartConfig,
    "tasb quickstart --data ../shared/data/scifact --set train_steps=100 --set output_dir=runs/qs",
    [described(DATA_DIR.to("data"), "BEIR folder (default: scifact under $TASB_DATA_DIR)"), DEVICE],
)
def command(config: QuickstartConfig) -> None:
    """SciFact end to end: BM25 → teacher → student → index → search → evaluate, in one table."""
    typer.echo(f"everything is in {run_quickstart(config)}")
