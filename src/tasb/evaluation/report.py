"""Result tables in Markdown, the form the docs and the quickstart print, and the report of an experiment folder."""

from __future__ import annotations

import dataclasses
import json
import string
from collections import defaultdict
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from tasb.data.readers import iter_lines, read_qrels, read_run
from tasb.data.records import Qrels
from tasb.errors import InputError
from tasb.evaluation.metrics import recall_at_cutoffs
from tasb.evaluation.plots import recall_plot, validation_plot
from tasb.evaluation.significance import better
from tasb.fsutil import atomic_write


def markdown_table(rows: dict[str, dict[str, float]], notes: dict[str, str] | None = None) -> str:
    """One row per system, one column per measure (the first row's order), values to 3 decimals."""
    if not rows:
        return ""
    measures = list(next(iter(rows.values())))
    notes = notes or {}
    header = ["system", *measures] + (["note"] if notes else [])
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for name, values in rows.items():
        cells = [name, *(f"{values[m]:.3f}" if m in values else "–" for m in measures)]
        lines.append("| " + " | ".join(cells + ([notes.get(name, "")] if notes else [])) + " |")
    return "\n".join(lines)


# The paper's row orders; a value beating such a row is marked with the row's letter
SAMPLERS = {"random": "r", "tas": "t", "tas-balanced": "b"}
TEACHERS = ("pairwise", "in-batch", "dual")
LOSSES = {"kldiv": "k", "listnet": "l", "lambdaloss": "n", "margin-mse": "m"}
INSTANCES = string.ascii_uppercase

# a page holding these lines gets the report between them, the rest of the page left as it is
REGION_BEGIN = "<!-- tasb report: begin -->"
REGION_END = "<!-- tasb report: end -->"

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


def build_report(
    experiment_dir: str | Path, out_path: str | Path | None = None, title: str | None = None, *, rel: int = 1
) -> Path:
    """Write the Markdown report of an experiment folder (default ``<exp>/report.md``) and its figures; returns its path.

    When ``out_path`` exists and holds the lines ``<!-- tasb report: begin -->`` and ``<!-- tasb report: end -->``,
    only the text between them is replaced.

    The tables take the paper's shapes: teacher × sampler (Table 4), in-batch losses (Table 3) and seeds
    (Table 5), with significance marks. ``rel`` is the grade from which a passage counts as relevant for
    the recall figure (the per-query files were evaluated by the runner already).
    """
    experiment = load_experiment(experiment_dir)
    out = Path(out_path) if out_path is not None else experiment.folder / "report.md"
    figures = out.parent / "figures"
    prefix = experiment.folder.resolve().name  # resolved, so '.' still names the experiment
    lines = [f"# {title or f'Experiment {prefix}'}", "", _summary(experiment), ""]
    if experiment.students:
        seed = _table_seed(experiment.students)
        lines += _teacher_sampler_section(experiment, seed)
        lines += _loss_sections(experiment, seed)
        lines += _seed_sections(experiment)
        lines += [MARKS_LEGEND, ""]
        lines += _runs_section(experiment.students)
    else:
        rows = [_Row((b.name,), b) for b in experiment.baselines]
        lines += ["## Baselines", "", *_table(["System"], rows, experiment.measures), ""]
    lines += ["## Figures", ""]
    if experiment.students:
        lines += _validation_figure(experiment.students, figures / f"{prefix}-validation.png", out.parent)
    lines += _recall_figure(experiment, figures / f"{prefix}-recall.png", out.parent, rel)
    report = "\n".join(lines)
    with atomic_write(out) as handle:
        handle.write(_spliced(out, report))
    return out


def _spliced(out: Path, report: str) -> str:
    """The report alone, or, when ``out`` marks a region for it, ``out`` with that region replaced.

    A results page can then hold hand-written text before and after the report and still be regenerated
    by the same command.
    """
    current = out.read_text(encoding="utf-8") if out.is_file() else ""
    if REGION_BEGIN not in current or REGION_END not in current.split(REGION_BEGIN, 1)[1]:
        return report
    before, rest = current.split(REGION_BEGIN, 1)
    after = rest.split(REGION_END, 1)[1]
    return f"{before}{REGION_BEGIN}\n{report}\n{REGION_END}{after}"


def load_experiment(experiment_dir: str | Path) -> Experiment:
    """Read the finished systems (those with an ``EVALUATED`` marker) of ``baselines/`` and ``runs/``."""
    folder = Path(experiment_dir)
    if not folder.is_dir():
        raise InputError(folder, "an experiment folder", "no such folder")
    systems: list[System] = []
    unfinished: list[str] = []
    for group in ("baselines", "runs"):
        parent = folder / group
        # dot-folders are the temporary names of outputs still being written
        for sub in sorted(p for p in parent.glob("*") if p.is_dir() and not p.name.startswith(".")):
            if (sub / "EVALUATED").exists():
                systems.append(_read_system(sub))
            else:
                unfinished.append(f"{group}/{sub.name}")
    if not systems:
        got = f"{len(unfinished)} unfinished system folder(s) and no finished one" if unfinished else "no system folders"
        expected = "at least one finished system: a baselines/<name>/ or runs/<name>/ folder with an EVALUATED marker"
        raise InputError(folder, expected, got)
    baselines = [s for s in systems if not s.is_student]
    _check_unique_keys([b for b in baselines if b.info.get("compare")])
    return Experiment(folder, baselines, [s for s in systems if s.is_student], unfinished)


def _read_system(folder: Path) -> System:
    path = folder / "system.json"
    info = _read_json(path, ("kind", "name"))
    _check_choice(path, "kind", info["kind"], ("baseline", "student"))
    test = _read_json(folder / "test_metrics.json")
    per_query = _read_json(folder / "per_query.json")
    if info["kind"] == "baseline":
        return System(folder, info, test, per_query)
    _require(path, info, ("sampler", "teacher_mode", "seed"))
    _check_choice(path, "sampler", info["sampler"], tuple(SAMPLERS))
    _check_choice(path, "teacher_mode", info["teacher_mode"], TEACHERS)
    if info["teacher_mode"] != "pairwise":
        _require(path, info, ("inbatch_loss",))
        _check_choice(path, "inbatch_loss", info["inbatch_loss"], tuple(LOSSES))
    training = _read_json(folder / "metrics.json", ("steps", "stopped_by", "seconds"))
    # a run trained without validation queries has neither a best step nor a validation log
    log = folder / "validation.jsonl"
    metric = str(training.get("validation_metric", "nDCG@10"))
    validation = _read_jsonl(log, ("step", metric)) if log.is_file() else []
    return System(folder, info, test, per_query, training, validation)


def _read_json(path: Path, required: tuple[str, ...] = ()) -> dict:
    if not path.is_file():
        raise InputError(path, "an existing file", "no such file")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise InputError(path, "a JSON object", f"invalid JSON ({err.msg})") from None
    if not isinstance(data, dict):
        raise InputError(path, "a JSON object", type(data).__name__)
    _require(path, data, required)
    return data


def _read_jsonl(path: Path, required: tuple[str, ...]) -> list[dict]:
    records = []
    for number, line in iter_lines(path):
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(path, "one JSON object per line", f"invalid JSON ({err.msg})", line=number) from None
        if not isinstance(record, dict) or any(key not in record for key in required):
            raise InputError(path, f"one JSON object per line with {', '.join(required)}", line, line=number)
        records.append(record)
    return records


def _require(path: Path, data: dict, keys: tuple[str, ...]) -> None:
    missing = [key for key in keys if key not in data]
    if missing:
        raise InputError(path, f"the fields {', '.join(keys)}", f"no {', '.join(missing)}")


def _check_choice(path: Path, field: str, value: object, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise InputError(path, f"{field} one of {', '.join(choices)}", str(value))


def _check_unique_keys(compared: list[System]) -> None:
    # two baselines under one letter would make every mark naming it ambiguous
    seen: dict[str, System] = {}
    for baseline in compared:
        if baseline.key in seen:
            raise InputError(
                baseline.folder / "system.json",
                f"a key letter no other compared baseline uses ({seen[baseline.key].name} has {baseline.key})",
                baseline.key,
            )
        seen[baseline.key] = baseline


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


def _fmt(value: float) -> str:
    # the paper's style: .712
    text = f"{value:.3f}"
    return text.replace("0.", ".", 1) if text.startswith(("0.", "-0.")) else text


def _line(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(columns: list[str], rows: list[_Row], measures: list[str]) -> list[str]:
    header = [*columns, *measures]
    lines = [_line(header), "|" + "|".join("---" for _ in header) + "|"]
    best = {m: _best(rows, m) for m in measures}
    for row in rows:
        lines.append(_line([*row.cells, *(_cell(row, m, best[m]) for m in measures)]))
    return lines


def _best(rows: list[_Row], measure: str) -> str | None:
    values = [row.system.test[measure] for row in rows if row.ranked and measure in row.system.test]
    return _fmt(max(values)) if values else None


def _cell(row: _Row, measure: str, best: str | None) -> str:
    if measure not in row.system.test:
        return "–"
    text = _fmt(row.system.test[measure])
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
            _line(["mean ± std", "", *(_spread(instances, m) for m in measures)]),
            _line(["min – max", "", *(_range(instances, m) for m in measures)]),
            "",
        ]
    return lines


def _spread(runs: list[System], measure: str) -> str:
    values = [run.test[measure] for run in runs if measure in run.test]
    if len(values) < 2:
        return "–"
    return f"{_fmt(float(np.mean(values)))} ± {_fmt(float(np.std(values, ddof=1)))}"


def _range(runs: list[System], measure: str) -> str:
    values = [run.test[measure] for run in runs if measure in run.test]
    return f"{_fmt(min(values))} – {_fmt(max(values))}" if values else "–"


def _runs_section(students: list[System]) -> list[str]:
    header = ["Run", "Configuration", "Seed", "Steps", "Best step", "Stopped by", "Minutes", "Validation metric",
              "Best validation"]
    lines = ["## Runs", "", _line(header), "|" + "|".join("---" for _ in header) + "|"]
    for s in students:
        t = s.training
        step, metric, value = (str(s.best[0]), s.validation_metric, _fmt(s.best[1])) if s.best else ("–", "–", "–")
        minutes = f"{t['seconds'] / 60:.1f}"
        cells = [s.name, s.configuration, str(s.seed), str(t["steps"]), step, str(t["stopped_by"]), minutes, metric, value]
        lines.append(_line(cells))
    return [*lines, ""]


def _best_student(students: list[System]) -> System | None:
    # chosen as a user would pick a model to ship: on validation, never on the test queries
    validated = [s for s in students if s.best]
    return max(validated, key=lambda s: s.best[1]) if validated else None


def _validation_figure(students: list[System], path: Path, base: Path) -> list[str]:
    validated = [s for s in students if s.best]
    if not validated:
        return ["*No run was validated during training, so there are no validation curves.*", ""]
    curves = {s.name: ([r["step"] for r in s.validation], [r[s.validation_metric] for r in s.validation]) for s in validated}
    best = {s.name: s.best for s in validated}
    metric = " / ".join(sorted({s.validation_metric for s in validated}))
    validation_plot(path, curves, best, metric)
    return [
        f"![Validation curves]({path.relative_to(base).as_posix()})",
        "",
        f"*Validation {metric} of every run over its training steps; the star is the best step, whose checkpoint was tested.*",
        "",
    ]


def _recall_figure(experiment: Experiment, path: Path, base: Path, rel: int) -> list[str]:
    qrels = read_qrels(experiment.folder / "test.qrels")
    shown = {b.name: b for b in experiment.baselines}
    caption = f"*Recall of the test queries at cut-offs up to each run's depth (relevant from grade {rel})"
    best = _best_student(experiment.students)
    if best is not None:
        shown[f"{best.name} (best student)"] = best
        caption += (
            f"; the best student, {best.name}, is the one with the highest best validation "
            f"{best.validation_metric} ({_fmt(best.best[1])}), chosen without looking at the test queries"
        )
    elif experiment.students:
        caption += "; no student is shown: none was validated, and picking one on the test queries would flatter it"
    recalls = {label: _recalls(system, qrels, rel) for label, system in shown.items()}
    recall_plot(path, {label: values for label, values in recalls.items() if values})
    return [f"![Recall at cut-offs]({path.relative_to(base).as_posix()})", "", caption + ".*", ""]


def _recalls(system: System, qrels: Qrels, rel: int) -> dict[int, float]:
    return recall_at_cutoffs(read_run(system.folder / "test.trec"), qrels, rel)
