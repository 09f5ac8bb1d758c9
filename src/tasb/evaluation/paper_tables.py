"""The report's tables in the paper's shapes (Tables 3-5) with paired t-test marks, over the evaluated systems of an
experiment (``tasb report`` reads them from the experiment folder)."""

from __future__ import annotations

import dataclasses
import string
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from tasb.evaluation.significance import better
from tasb.markdown import markdown_table, table_row

# The paper's row orders; a value beating such a row is marked with the row's letter
SAMPLERS = {"random": "r", "tas": "t", "tas-balanced": "b"}
TEACHERS = ("pairwise", "in-batch", "dual")
LOSSES = {"kldiv": "k", "listnet": "l", "lambdaloss": "n", "margin-mse": "m"}
INSTANCES = string.ascii_uppercase

MARKS_LEGEND = (
    "**Marks.** A superscript lists the keys of the rows a value is significantly better than: paired two-sided "
    "t-test over the test queries (scipy.stats.ttest_rel), p < 0.05; a value carries the key of every row it beats. "
    "Lowercase keys are rows of the same table group (samplers, losses, instances); uppercase keys are the baselines "
    "marked for comparison. Bold is the best trained model of a column where models compete (samplers, losses)."
)


@dataclasses.dataclass(frozen=True)
class System:
    """One finished baseline or student folder of an experiment."""

    folder: Path
    info: dict  # system.json
    test: dict[str, float]  # test_metrics.json: the mean of each measure
    per_query: dict[str, dict[str, float]]  # per_query.json: measure -> qid -> value
    training: dict = dataclasses.field(default_factory=dict)  # a student's metrics.json
    validation: list[dict] = dataclasses.field(default_factory=list)  # a student's validation.jsonl

    @property
    def name(self) -> str:
        return str(self.info["name"])

    @property
    def is_student(self) -> bool:
        return self.info["kind"] == "student"

    @property
    def key(self) -> str:
        """A baseline's mark, uppercase so it never reads as a sampler's, loss's or instance's."""
        return str(self.info.get("key") or self.name[:1]).upper()

    @property
    def sampler(self) -> str:
        return self.info["sampler"]

    @property
    def teacher(self) -> str:
        return self.info["teacher_mode"]

    @property
    def loss(self) -> str | None:
        # a pairwise run trains without in-batch negatives: the loss it lists did nothing
        return None if self.teacher == "pairwise" else self.info["inbatch_loss"]

    @property
    def seed(self) -> int:
        return int(self.info["seed"])

    @property
    def validation_metric(self) -> str:
        return str(self.training.get("validation_metric", "nDCG@10"))

    @property
    def best(self) -> tuple[int, float] | None:
        """The best validated (step, value); None for a run trained without validation queries."""
        step, value = self.training.get("best_step"), self.training.get("best_validation")
        return None if step is None or value is None else (int(step), float(value))

    @property
    def configuration(self) -> str:
        return " · ".join(part for part in (self.sampler, self.teacher, self.loss) if part)


@dataclasses.dataclass(frozen=True)
class Experiment:
    """The finished systems of an experiment folder, and the folders skipped as unfinished."""

    folder: Path
    baselines: list[System]
    students: list[System]
    unfinished: list[str]  # "runs/<name>", "baselines/<slug>"

    @property
    def measures(self) -> list[str]:
        """Every test measure, in the order the files list them."""
        return list(dict.fromkeys(m for system in self.baselines + self.students for m in system.test))


def report_tables(experiment: Experiment) -> list[str]:
    """The report's text lines up to its figures: a summary, then the paper's table shapes (teacher × sampler, Table 4;
    in-batch losses, Table 3; seeds, Table 5) with significance marks and the runs, or the baselines alone."""
    lines = [_summary(experiment), ""]
    if not experiment.students:
        rows = [_Row((b.name,), b) for b in experiment.baselines]
        return [*lines, "## Baselines", "", *_table(["System"], rows, experiment.measures), ""]
    seed = _table_seed(experiment.students)
    lines += _teacher_sampler_section(experiment, seed)
    lines += _loss_sections(experiment, seed)
    lines += _seed_sections(experiment)
    lines += [MARKS_LEGEND, ""]
    return lines + _runs_section(experiment.students)


def _summary(experiment: Experiment) -> str:
    text = f"Finished systems: {len(experiment.baselines)} baselines, {len(experiment.students)} trained students."
    if experiment.unfinished:
        text += f" Skipped {len(experiment.unfinished)} unfinished (no EVALUATED marker): {', '.join(experiment.unfinished)}."
    return text


@dataclasses.dataclass(frozen=True)
class _Row:
    cells: tuple[str, ...]  # the label columns
    system: System
    rivals: tuple[tuple[str, System], ...] = ()  # (key, system) pairs it is tested against
    ranked: bool = False  # competes for the bold best value


def fmt(value: float) -> str:
    """A measure in the paper's style: .712."""
    text = f"{value:.3f}"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def _table(columns: list[str], rows: list[_Row], measures: list[str]) -> list[str]:
    best = {m: _best(rows, m) for m in measures}
    return markdown_table([*columns, *measures], ([*row.cells, *(_cell(row, m, best[m]) for m in measures)] for row in rows))


def _best(rows: list[_Row], measure: str) -> str | None:
    values = [row.system.test[measure] for row in rows if row.ranked and measure in row.system.test]
    return fmt(max(values)) if values else None


def _cell(row: _Row, measure: str, best: str | None) -> str:
    if measure not in row.system.test:
        return "–"
    text = fmt(row.system.test[measure])
    # compared as printed, so values that read the same are bold together
    if row.ranked and text == best:
        text = f"**{text}**"
    mine = row.system.per_query.get(measure, {})
    keys = "".join(key for key, rival in row.rivals if better(mine, rival.per_query.get(measure, {})))
    return f"{text} <sup>{keys}</sup>" if keys else text


def _pick(runs: list[System]) -> System:
    # margin-mse is the paper's in-batch loss; another loss stands in only where no margin-mse run exists
    return min(runs, key=lambda s: (s.loss not in (None, "margin-mse"), s.loss or "", s.name))


def _one_per(runs: list[System], field: Callable[[System], object], order: Iterable) -> dict:
    """One run for each value of ``field``, in ``order``."""
    return {value: _pick([r for r in runs if field(r) == value]) for value in order if any(field(r) == value for r in runs)}


def _table_seed(students: list[System]) -> int:
    cells: dict[int, set[tuple[str, str]]] = defaultdict(set)
    for student in students:
        cells[student.seed].add((student.teacher, student.sampler))
    # the seed most cells were run with, so every cell is one run and all share a seed
    return min(cells, key=lambda seed: (-len(cells[seed]), seed))


def _teacher_sampler_section(experiment: Experiment, seed: int) -> list[str]:
    compared = tuple((b.key, b) for b in experiment.baselines if b.info.get("compare"))
    rows = [_Row((b.name, "–"), b) for b in experiment.baselines]
    for teacher in TEACHERS:
        runs = [s for s in experiment.students if s.teacher == teacher and s.seed == seed]
        cells = _one_per(runs, lambda s: s.sampler, SAMPLERS)
        for sampler, run in cells.items():
            rivals = compared + tuple((SAMPLERS[other], cells[other]) for other in cells if other != sampler)
            label = teacher if run.loss in (None, "margin-mse") else f"{teacher} ({run.loss})"
            rows.append(_Row((label, sampler), run, rivals, ranked=True))
    present = {s.sampler for s in experiment.students if s.seed == seed}
    keys = [f"{key} {sampler}" for sampler, key in SAMPLERS.items() if sampler in present]
    keys += [f"{key} {baseline.name}" for key, baseline in compared]
    return [
        f"## Teacher × sampler (Table 4 shape, seed {seed})",
        "",
        "One run per cell, all with the same seed. In-batch and dual teachers use the margin-mse in-batch loss "
        "unless the row names another. Samplers are tested against the other samplers of the same teacher.",
        "",
        *_table(["Teacher", "Sampling"], rows, experiment.measures),
        "",
        f"Keys: {', '.join(keys)}.",
        "",
    ]


def _loss_sections(experiment: Experiment, seed: int) -> list[str]:
    lines = []
    for teacher in TEACHERS[1:]:
        for sampler in SAMPLERS:
            runs = [s for s in experiment.students if (s.teacher, s.sampler, s.seed) == (teacher, sampler, seed)]
            by_loss = _one_per(runs, lambda s: s.loss, LOSSES)
            if len(by_loss) < 2:
                continue
            rows = [
                _Row((loss,), run, tuple((LOSSES[other], by_loss[other]) for other in by_loss if other != loss), ranked=True)
                for loss, run in by_loss.items()
            ]
            lines += [
                f"## In-batch loss: {sampler} sampling, {teacher} teacher (Table 3 shape, seed {seed})",
                "",
                *_table(["Loss"], rows, experiment.measures),
                "",
                f"Keys: {', '.join(f'{LOSSES[loss]} {loss}' for loss in by_loss)}.",
                "",
            ]
    return lines


def _seed_sections(experiment: Experiment) -> list[str]:
    def order(config: tuple[str, str, str | None]) -> tuple[int, int, int]:
        teacher, sampler, loss = config
        return TEACHERS.index(teacher), list(SAMPLERS).index(sampler), list(LOSSES).index(loss) if loss else -1

    lines = []
    for config in sorted({(s.teacher, s.sampler, s.loss) for s in experiment.students}, key=order):
        runs = [s for s in experiment.students if (s.teacher, s.sampler, s.loss) == config]
        by_seed = _one_per(runs, lambda s: s.seed, sorted({s.seed for s in runs}))
        if len(by_seed) < 2:
            continue
        # marks are single letters: beyond 26 seeds the smallest 26 are shown
        instances = list(by_seed.values())[: len(INSTANCES)]
        rows = [
            _Row(
                (f"**{INSTANCES[i]}**", str(run.seed)),
                run,
                tuple((INSTANCES[j].lower(), other) for j, other in enumerate(instances) if j != i),
            )
            for i, run in enumerate(instances)
        ]
        measures = experiment.measures
        lines += [
            f"## Seeds: {instances[0].configuration} (Table 5 shape)",
            "",
            f"{len(instances)} instances differing only in their seed"
            + (f" (the {len(INSTANCES)} smallest of {len(by_seed)} seeds)" if len(by_seed) > len(instances) else "")
            + "; instances are tested against each other.",
            "",
            *_table(["Inst.", "Seed"], rows, measures),
            table_row(["mean ± std", "", *(_spread(instances, m) for m in measures)]),
            table_row(["min – max", "", *(_range(instances, m) for m in measures)]),
            "",
        ]
    return lines


def _spread(runs: list[System], measure: str) -> str:
    values = [run.test[measure] for run in runs if measure in run.test]
    if len(values) < 2:
        return "–"
    return f"{fmt(float(np.mean(values)))} ± {fmt(float(np.std(values, ddof=1)))}"


def _range(runs: list[System], measure: str) -> str:
    values = [run.test[measure] for run in runs if measure in run.test]
    return f"{fmt(min(values))} – {fmt(max(values))}" if values else "–"


def _runs_section(students: list[System]) -> list[str]:
    header = ["Run", "Configuration", "Seed", "Steps", "Best step", "Stopped by", "Minutes", "Validation metric",
              "Best validation"]
    rows = []
    for s in students:
        t = s.training
        step, metric, value = (str(s.best[0]), s.validation_metric, fmt(s.best[1])) if s.best else ("–", "–", "–")
        minutes = f"{t['seconds'] / 60:.1f}"
        rows.append([s.name, s.configuration, str(s.seed), str(t["steps"]), step, str(t["stopped_by"]), minutes, metric, value])
    return ["## Runs", "", *markdown_table(header, rows), ""]


def best_student(students: list[System]) -> System | None:
    # chosen as a user would pick a model to ship: on validation, never on the test queries
    validated = [s for s in students if s.best]
    return max(validated, key=lambda s: s.best[1]) if validated else None


