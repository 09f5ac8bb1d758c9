"""``tasb experiment``: a grid of training runs (sampler × teacher × in-batch loss × seed), each evaluated on the test queries.

An experiment folder, which ``tasb report`` turns into tables and plots::

    experiment.yaml        the resolved config
    test.qrels             the judgments every system is evaluated against
    validation_qids.txt    the training queries held out for early stopping (the same for every run)
    baselines/<name>/      BM25, the initial student, reference runs
    runs/<name>/           one training run folder per grid cell, e.g. tas-balanced.dual.margin-mse.seed42

Every system folder ends with ``test.trec``, ``test_metrics.json``, ``per_query.json`` (each measure per
test query, for significance tests), ``system.json`` (what the system is) and, written last,
``EVALUATED``. Rerunning the command skips evaluated systems and resumes an interrupted run from its
newest checkpoint, so a grid survives being stopped at any point.
"""

from __future__ import annotations

import dataclasses
import itertools
import json
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from tasb import layout
from tasb.apps.command import tasb_command
from tasb.apps.options import DEVICE
from tasb.config import (
    AT_LEAST_1, DEFAULT_MEASURES, SEED, Checked, DataConfig, InBatchLossName, Sampler, TeacherMode, TrainConfig, check_config, save_config,
)
from tasb.errors import InputError, named
from tasb.fsutil import atomic_write, write_json
from tasb.outputs import run_folder

if TYPE_CHECKING:
    from tasb.data import Dataset, Run
    from tasb.models.student import BertDot
    from tasb.training.colbert_teacher import ColbertTeacher
    from tasb.training.validation import ValidationSet

ST_BASELINE = "sentence-transformers"
EXPERIMENT_KIND = "experiment"

__all__ = ["ExperimentConfig", "GridConfig", "grid_runs", "run_experiment"]


@dataclasses.dataclass
class GridConfig(Checked):
    """One block of an experiment grid: every combination of its lists is one training run."""

    sampler: list[Sampler] = dataclasses.field(default_factory=lambda: ["random", "tas", "tas-balanced"])
    teacher_mode: list[TeacherMode] = dataclasses.field(default_factory=lambda: ["pairwise", "in-batch", "dual"])
    # ignored by pairwise runs, which have no in-batch part
    inbatch_loss: list[InBatchLossName] = dataclasses.field(default_factory=lambda: ["margin-mse"])
    seed: list[int] = dataclasses.field(default_factory=lambda: [42])

    limits = {"seed": SEED}


@dataclasses.dataclass
class ExperimentConfig(Checked):
    """``tasb experiment``: a grid of training runs, each evaluated on the test queries, ready for ``tasb report``."""

    output_dir: str = "runs/experiment"
    # every run starts from this; the grid sets its sampler, teacher_mode, inbatch_loss, seed and output_dir
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    # test queries and judgments; data null = train.data's folder
    test: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    # the union of these blocks, each run once (pairwise runs differing only in inbatch_loss are one run)
    grids: list[GridConfig] = dataclasses.field(default_factory=lambda: [GridConfig()])
    # test-set rows computed here: BM25, and the initial student (train.student, untrained)
    bm25_baseline: bool = True
    initial_baseline: bool = True
    # sentence-transformers' own recipe (MultipleNegativesRankingLoss, in-batch + the score file's hard
    # negatives) from train.student, with train's batch size, learning rate, steps and max_minutes
    sentence_transformers_baseline: bool = True
    # more rows from existing TREC runs over the test queries, name -> path (e.g. the teacher's re-ranking)
    references: dict[str, str] = dataclasses.field(default_factory=dict)
    # rows (bm25, initial, sentence-transformers or a reference name) every student is t-tested against in the report
    compare_to: list[str] = dataclasses.field(default_factory=lambda: ["bm25", "sentence-transformers"])
    measures: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_MEASURES))
    # RR and recall count a passage relevant from this grade up (TREC-DL: 2); nDCG uses the grades
    rel: int = 1
    # passages per query in every system's test run
    k: int = 1000
    # an evaluated run's checkpoints (~270 MB each for MiniLM) are deleted; its model and logs stay
    keep_checkpoints: bool = False

    limits = {"rel": AT_LEAST_1, "k": AT_LEAST_1}
    renamed = {"depth": "k"}

    def validate(self) -> None:
        """Settings that would fail a run, refused before the baselines take their minutes."""
        super().validate()
        if len(self.references) > 22:
            raise InputError("config", "at most 22 references (each needs a letter for the report's marks)", str(len(self.references)))
        if not grid_runs(self):
            raise InputError("config", "grids: at least one block with a sampler, teacher_mode, inbatch_loss and seed each")
        rows = {"bm25"} if self.bm25_baseline else set()
        rows |= ({"initial"} if self.initial_baseline else set()) | set(self.references)
        rows |= {ST_BASELINE} if self.sentence_transformers_baseline else set()
        unknown = sorted(set(self.compare_to) - rows)
        if unknown:
            raise InputError("config", f"compare_to: rows of this experiment ({', '.join(sorted(rows)) or 'none'})", unknown[0])
        if "/" in "".join(self.references) or any(name in {"bm25", "initial", ST_BASELINE} for name in self.references):
            raise InputError(
                "config", f"references: names without '/' other than bm25, initial and {ST_BASELINE}", str(list(self.references))
            )


def grid_runs(config: ExperimentConfig) -> dict[str, TrainConfig]:
    """Each run of the grid by folder name, in grid order; a cell listed by two blocks runs once."""
    runs: dict[str, TrainConfig] = {}
    for block in config.grids:
        for sampler, mode, loss, seed in itertools.product(block.sampler, block.teacher_mode, block.inbatch_loss, block.seed):
            # the in-batch loss means nothing without an in-batch part: one pairwise run per sampler and seed
            loss = config.train.inbatch_loss if mode == "pairwise" else loss
            name = ".".join([sampler, mode] + ([loss] if mode != "pairwise" else []) + [f"seed{seed}"])
            runs[name] = dataclasses.replace(
                config.train,
                output_dir=str(layout.system_dir(config.output_dir, layout.RUNS, name)),
                sampler=sampler,
                teacher_mode=mode,
                inbatch_loss=loss,
                seed=seed,
            )
    return runs


class _Experiment:
    """What the runs share: data, teacher scores, the validation set and the in-batch teacher, each loaded once."""

    def __init__(self, config: ExperimentConfig):
        self.config = config
        self.folder = Path(config.output_dir)
        self.train_set = _load(config.train.data)
        self.test_set = _load(_test_data(config))
        self._scores = None
        self._validation: ValidationSet | None = None
        self._inbatch_teacher: ColbertTeacher | None = None

    @property
    def scores(self):
        if self._scores is None:
            if not self.config.train.teacher_scores:
                raise InputError("config", "train.teacher_scores: the path of a teacher score file")
            from tasb.data import read_scores

            self._scores = read_scores(self.config.train.teacher_scores)
        return self._scores

    def validation(self) -> ValidationSet | None:
        from tasb.training.validation import build_validation_set

        settings = self.config.train.validation
        if self._validation is None and settings.enabled:
            self._validation = build_validation_set(settings, self.train_set, (row.qid for row in self.scores))
            with atomic_write(self.folder / layout.VALIDATION_QIDS) as handle:
                handle.writelines(f"{qid}\n" for qid in self._validation.queries)
        return self._validation

    def inbatch_teacher(self, run: TrainConfig) -> ColbertTeacher | None:
        """One ColBERT and one cache of its passage vectors serve every in-batch and dual run."""
        from tasb.training.colbert_teacher import build_colbert_teacher
        from tasb.training.distributed import World
        from tasb.training.setup import training_device

        if run.teacher_mode == "pairwise":
            return None
        if self._inbatch_teacher is None:
            with named({"colbert_teacher": "train.colbert_teacher"}):
                self._inbatch_teacher = build_colbert_teacher(
                    run, self.train_set.corpus, self.scores, device=training_device(run, World())
                )
        return self._inbatch_teacher

    def evaluate(self, folder: Path, run: Run, system: dict[str, Any], started: float) -> None:
        """Test metrics and per-query values of ``run``, then ``EVALUATED``: the system is finished."""
        from tasb.data import write_run
        from tasb.evaluation import evaluate, evaluate_per_query

        config = self.config
        write_run(run, folder / layout.TEST_RUN, tag=folder.name, k=config.k)
        write_json(folder / layout.TEST_METRICS, evaluate(run, self.test_set.qrels, config.rel, config.measures))
        write_json(folder / layout.PER_QUERY, evaluate_per_query(run, self.test_set.qrels, config.rel, config.measures))
        write_json(folder / layout.SYSTEM, {**system, "evaluation_seconds": round(time.monotonic() - started, 1)})
        layout.mark(folder, layout.EVALUATED)

    def dense_run(self, student: BertDot, model_name: str, folder: Path) -> Run:
        from tasb.retrieval.index import build_index, search

        index = build_index(student, self.test_set.corpus, folder / "index", bf16=self.config.train.bf16, model_name=model_name)
        run = search(index, student, self.test_set.queries, k=self.config.k)
        shutil.rmtree(folder / "index")  # 4 bytes x dim per passage per run; the run file is what the report needs
        return run


def run_experiment(config: ExperimentConfig) -> Path:
    """Run every unfinished system of the grid and return the experiment folder."""
    from tasb.evaluation.metrics import check_measures
    from tasb.training.trainer import check_train_config

    folder = Path(config.output_dir)
    check_config(config)
    check_train_config(config.train)
    check_measures(config.measures, "measures")
    runs = grid_runs(config)
    # an earlier experiment's folder is resumed; held (locked) so no second process trains into its runs
    with run_folder(folder, EXPERIMENT_KIND):
        return _run_grid(config, folder, runs)


def _run_grid(config: ExperimentConfig, folder: Path, runs: dict[str, TrainConfig]) -> Path:
    from tasb.data import write_qrels

    experiment = _Experiment(config)
    save_config(config, folder / layout.EXPERIMENT_CONFIG)  # once the data has loaded: a failed start leaves an earlier config be
    write_qrels(experiment.test_set.qrels, folder / layout.TEST_QRELS)
    _baselines(experiment)
    pending = [name for name in runs if not layout.is_marked(layout.system_dir(folder, layout.RUNS, name), layout.EVALUATED)]
    print(f"{len(runs)} runs, {len(runs) - len(pending)} already evaluated", flush=True)
    for number, name in enumerate(pending, start=1):
        started = time.monotonic()
        print(f"[{number}/{len(pending)}] {name}", flush=True)
        _train_and_evaluate(experiment, runs[name])
        print(f"[{number}/{len(pending)}] {name}: {(time.monotonic() - started) / 60:.1f} min", flush=True)
    layout.mark(folder, layout.DONE)
    return folder


def _train_and_evaluate(experiment: _Experiment, run: TrainConfig) -> None:
    from tasb.models.student import BertDot
    from tasb.training.trainer import train

    folder = Path(run.output_dir)
    if not layout.is_marked(folder, layout.DONE):
        train(
            run, experiment.train_set, experiment.scores, resume=True,
            inbatch_teacher=experiment.inbatch_teacher(run), validation=experiment.validation(),
        )
    started = time.monotonic()
    student = BertDot.load(str(folder / layout.MODEL), device=run.device)
    test_run = experiment.dense_run(student, str((folder / layout.MODEL).resolve()), folder)
    system = {
        "kind": "student", "name": folder.name, "sampler": run.sampler, "teacher_mode": run.teacher_mode,
        "inbatch_loss": run.inbatch_loss, "seed": run.seed,
    }
    experiment.evaluate(folder, test_run, system, started)
    if not experiment.config.keep_checkpoints:
        shutil.rmtree(folder / layout.CHECKPOINTS, ignore_errors=True)


def _baselines(experiment: _Experiment) -> None:
    from tasb.retrieval.bm25 import BM25
    from tasb.training.st_baseline import BASELINE_NAME
    from tasb.training.trainer import load_student

    config = experiment.config
    wanted: dict[str, tuple[str, Any]] = {}
    if config.bm25_baseline:
        wanted["bm25"] = ("BM25", lambda folder: BM25(experiment.test_set.corpus).search(experiment.test_set.queries, config.k))
    if config.initial_baseline:
        model = config.train.student.model
        wanted["initial"] = (
            f"initial student ({Path(model).name}, untrained)",
            lambda folder: experiment.dense_run(load_student(config.train.student, config.train.device), model, folder),
        )
    if config.sentence_transformers_baseline:
        wanted[ST_BASELINE] = (f"{BASELINE_NAME} (same triples, same budget)", lambda folder: _st_baseline_run(experiment, folder))
    for name, path in config.references.items():
        wanted[name] = (name, lambda folder, path=path: _reference_run(path, experiment.test_set))
    keys = _baseline_keys(list(wanted))
    for slug, (name, make_run) in wanted.items():
        folder = layout.system_dir(experiment.folder, layout.BASELINES, slug)
        system = {"kind": "baseline", "name": name, "key": keys[slug], "compare": slug in config.compare_to}
        if layout.is_marked(folder, layout.EVALUATED):
            # names, keys and comparisons follow the current config; the evaluation stands
            evaluated = json.loads((folder / layout.SYSTEM).read_text(encoding="utf-8"))
            write_json(folder / layout.SYSTEM, {**evaluated, **system})
            continue
        print(f"baseline {name}", flush=True)
        started = time.monotonic()
        folder.mkdir(parents=True, exist_ok=True)
        experiment.evaluate(folder, make_run(folder), system, started)


def _baseline_keys(slugs: list[str]) -> dict[str, str]:
    """A fixed letter per baseline for the report's marks: B for BM25, I for the initial student, then R, S, ..."""
    fixed = {"bm25": "B", "initial": "I", ST_BASELINE: "S"}
    spare = iter(letter for letter in "RSTUVWXYZACDEFGHJKLMNOPQ" if letter not in fixed.values())
    return {slug: fixed.get(slug) or next(spare) for slug in slugs}


def _st_baseline_run(experiment: _Experiment, folder: Path) -> Run:
    from tasb.models.student import BertDot
    from tasb.training.st_baseline import train_sentence_transformers

    """sentence-transformers' recipe on the grid's triples and budget, without the validation queries, searched like a student."""
    if not layout.is_marked(folder, layout.DONE):
        validation = experiment.validation()
        held_out = validation.queries if validation is not None else ()
        train_sentence_transformers(experiment.config.train, experiment.train_set, experiment.scores, folder, exclude=held_out)
    model = BertDot.load(str(folder / layout.MODEL), device=experiment.config.train.device)
    return experiment.dense_run(model, str((folder / layout.MODEL).resolve()), folder)


def _reference_run(path: str, test_set: Dataset) -> Run:
    from tasb.data import read_run

    run = read_run(path)
    unknown = sorted(set(run) - set(test_set.queries))
    if unknown:
        raise InputError(path, "a run over the experiment's test queries", f"query {unknown[0]}, which is not one")
    # a run missing queries would be averaged and t-tested over fewer queries than every other row
    missing = sorted(set(test_set.queries) - set(run))
    if missing:
        raise InputError(path, "a ranking for every test query", f"none for query {missing[0]} ({len(missing)} missing)")
    return run


def _test_data(config: ExperimentConfig) -> DataConfig:
    test = config.test
    if test.data is None and test.corpus is None:
        return dataclasses.replace(test, data=config.train.data.data)
    return test


def _load(data: DataConfig) -> Dataset:
    from tasb.data import load_dataset

    # judgments are needed on both sides: validation on the training queries, evaluation on the test ones
    return load_dataset(data.data, data.split, corpus=data.corpus, queries=data.queries, qrels=data.qrels)


@tasb_command(
    ExperimentConfig, "tasb experiment configs/scifact-grid.yaml --set train.steps=1000 --device cpu", [DEVICE.to("train.device")],
    positional_config=True,
)
def command(config: ExperimentConfig) -> None:
    """Train and evaluate every run of a grid (sampler × teacher × in-batch loss × seed); rerun to resume."""
    folder = run_experiment(config)
    typer.echo(f"every run is evaluated; tables and plots: tasb report {folder}")
