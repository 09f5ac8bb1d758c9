"""``tasb report``: an experiment folder's evaluated systems as the paper's tables, validation curves and recall figure.

The report is a Markdown page (default ``<experiment>/report.md``) with its figures in ``figures/`` beside it,
written between the lines ``<!-- tasb report: begin -->`` and ``<!-- tasb report: end -->``. A page holding them gets
the report between them, the rest of the page left as it is; an existing page without them is refused (it is not a
report), except the experiment's own ``report.md``.
"""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional

import typer

from tasb import layout
from tasb.apps.command import tasb_command
from tasb.apps.options import OUT, argument, described, option
from tasb.config import Checked, load_config
from tasb.errors import InputError
from tasb.outputs import check_side_file, output_file

if TYPE_CHECKING:
    from tasb.evaluation.paper_tables import Experiment, System

# a page holding these lines gets the report between them, the rest of the page left as it is
REGION_BEGIN = "<!-- tasb report: begin -->"
REGION_END = "<!-- tasb report: end -->"


def build_report(
    experiment_dir: str | Path, out_path: str | Path | None = None, title: str | None = None, *, rel: int = 1
) -> Path:
    """Write the Markdown report of an experiment folder (default ``<exp>/report.md``) and its figures; returns its path.

    The report goes between the lines ``<!-- tasb report: begin -->`` and ``<!-- tasb report: end -->``: when
    ``out_path`` exists and holds them, only the text between them is replaced; an existing page without them is
    refused, except the experiment's own ``report.md``.

    The tables take the paper's shapes: teacher × sampler (Table 4), in-batch losses (Table 3) and seeds
    (Table 5), with significance marks. ``rel`` is the grade from which a passage counts as relevant for
    the recall figure (the per-query files were evaluated by the runner already).
    """
    from tasb.evaluation.paper_tables import report_tables
    from tasb.fsutil import atomic_write

    experiment = load_experiment(experiment_dir)
    out = Path(out_path) if out_path is not None else experiment.folder / "report.md"
    # the page and the figures are judged before any figure is redrawn, so a page it refuses keeps them too
    output_file(out)
    before, region, after = _page_parts(out, replaceable=out.resolve() == (experiment.folder / "report.md").resolve())
    prefix = experiment.folder.resolve().name  # resolved, so '.' still names the experiment
    validation_png, recall_png = (out.parent / "figures" / f"{prefix}-{name}.png" for name in ("validation", "recall"))
    check = {png: partial(_check_figure, png, out.parent, region) for png in (validation_png, recall_png)}
    for drawn in ([validation_png] if any(s.best for s in experiment.students) else []) + [recall_png]:
        check[drawn]()
    lines = [f"# {title or f'Experiment {prefix}'}", "", *report_tables(experiment), "## Figures", ""]
    # judged again once drawn: a file saved there meanwhile is as much the user's as one that was there before
    if experiment.students:
        lines += _validation_figure(experiment.students, validation_png, out.parent, check[validation_png])
    lines += _recall_figure(experiment, recall_png, out.parent, rel, check[recall_png])
    report = "\n".join(lines)
    with atomic_write(out) as handle:
        handle.write(f"{before}{REGION_BEGIN}\n{report}\n{REGION_END}{after}")
    return out


def _check_figure(path: Path, base: Path, region: str) -> None:
    """Refuse the figure ``path`` of the page in ``base`` when a file tasb did not draw stands there: a file (not a
    symlink) the page's report already shows counts as drawn, as reports from before tasb marked its PNGs drew them."""
    from tasb.evaluation.plots import drawn_by_tasb

    shown_before = f"]({path.relative_to(base).as_posix()})" in region and not path.is_symlink()
    check_side_file(path, lambda found: shown_before or drawn_by_tasb(found), "report to a page in another folder with --out")


def _page_parts(out: Path, replaceable: bool) -> tuple[str, str, str]:
    """``out``'s text before, inside and after the region it marks for the report: only the inside for a new page,
    or for a page without a region that is ``replaceable`` (a report from before reports marked their region).

    A results page can then hold hand-written text before and after the report and still be regenerated
    by the same command; a page without a region is someone's text, not a report to replace.
    """
    current = _read_page(out) if out.is_file() else ""
    if REGION_BEGIN not in current and REGION_END not in current:
        if current.strip() and not replaceable:
            raise InputError(out, f"a new page, or one holding {REGION_BEGIN} and {REGION_END} around the report's region", "a page without them")
        return "", current, "\n"
    if REGION_BEGIN not in current or REGION_END not in current.split(REGION_BEGIN, 1)[1]:
        # a page with half a region is hand-written: replacing all of it would lose that text
        marker = REGION_BEGIN if REGION_BEGIN in current else REGION_END
        line = current[: current.index(marker)].count("\n") + 1
        raise InputError(out, f"{REGION_BEGIN} followed by {REGION_END} around the report's region", marker, line=line)
    before, rest = current.split(REGION_BEGIN, 1)
    region, after = rest.split(REGION_END, 1)
    return before, region, after


def _read_page(out: Path) -> str:
    """The page's text, gunzipped as the report was written when its name ends in ``.gz``."""
    import gzip
    import zlib

    try:
        with gzip.open(out, "rt", encoding="utf-8") if out.suffix == ".gz" else out.open(encoding="utf-8") as handle:
            return handle.read()
    except (UnicodeDecodeError, gzip.BadGzipFile, EOFError, zlib.error):
        expected = "a gzipped UTF-8 text page" if out.suffix == ".gz" else "a UTF-8 text page"
        raise InputError(out, expected, "bytes that are not") from None


def load_experiment(experiment_dir: str | Path) -> Experiment:
    """Read the finished systems (those with an ``EVALUATED`` marker) of ``baselines/`` and ``runs/``."""
    from tasb.evaluation.paper_tables import Experiment

    folder = Path(experiment_dir)
    if not folder.is_dir():
        raise InputError(folder, "an experiment folder", "no such folder")
    systems: list[System] = []
    unfinished: list[str] = []
    for group, sub in layout.system_dirs(folder):
        if layout.is_marked(sub, layout.EVALUATED):
            systems.append(_read_system(sub))
        else:
            unfinished.append(f"{group}/{sub.name}")
    if not systems:
        got = f"{len(unfinished)} unfinished system folder(s) and no finished one" if unfinished else "no system folders"
        expected = f"at least one finished system: a baselines/<name>/ or runs/<name>/ folder with an {layout.EVALUATED} marker"
        raise InputError(folder, expected, got)
    baselines = [s for s in systems if not s.is_student]
    _check_unique_keys([b for b in baselines if b.info.get("compare")])
    return Experiment(folder, baselines, [s for s in systems if s.is_student], unfinished)


def _read_system(folder: Path) -> System:
    from tasb.evaluation.paper_tables import LOSSES, SAMPLERS, TEACHERS, System

    path = folder / layout.SYSTEM
    info = _read_json(path, ("kind", "name"))
    _check_choice(path, "kind", info["kind"], ("baseline", "student"))
    test = _read_json(folder / layout.TEST_METRICS)
    per_query = _read_json(folder / layout.PER_QUERY)
    if info["kind"] == "baseline":
        return System(folder, info, test, per_query)
    _require(path, info, ("sampler", "teacher_mode", "seed"))
    _check_choice(path, "sampler", info["sampler"], tuple(SAMPLERS))
    _check_choice(path, "teacher_mode", info["teacher_mode"], TEACHERS)
    if info["teacher_mode"] != "pairwise":
        _require(path, info, ("inbatch_loss",))
        _check_choice(path, "inbatch_loss", info["inbatch_loss"], tuple(LOSSES))
    training = _read_json(folder / layout.METRICS, ("steps", "stopped_by", "seconds"))
    # a run trained without validation queries has neither a best step nor a validation log
    log = folder / layout.VALIDATION_LOG
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
    from tasb.data.readers import iter_lines

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
                baseline.folder / layout.SYSTEM,
                f"a key letter no other compared baseline uses ({seen[baseline.key].name} has {baseline.key})",
                baseline.key,
            )
        seen[baseline.key] = baseline


def _validation_figure(students: list[System], path: Path, base: Path, before_replace: Callable[[], None]) -> list[str]:
    from tasb.evaluation import plots

    validated = [s for s in students if s.best]
    if not validated:
        return ["*No run was validated during training, so there are no validation curves.*", ""]
    curves = {s.name: ([r["step"] for r in s.validation], [r[s.validation_metric] for r in s.validation]) for s in validated}
    best = {s.name: s.best for s in validated}
    metric = " / ".join(sorted({s.validation_metric for s in validated}))
    plots.validation_plot(path, curves, best, metric, before_replace=before_replace)
    return [
        f"![Validation curves]({path.relative_to(base).as_posix()})",
        "",
        f"*Validation {metric} of every run over its training steps; the star is the best step, whose checkpoint was tested.*",
        "",
    ]


def _recall_figure(experiment: Experiment, path: Path, base: Path, rel: int, before_replace: Callable[[], None]) -> list[str]:
    from tasb.data import read_qrels, read_run
    from tasb.evaluation import plots
    from tasb.evaluation.metrics import recall_at_cutoffs
    from tasb.evaluation.paper_tables import best_student, fmt

    qrels = read_qrels(experiment.folder / layout.TEST_QRELS)
    shown = {b.name: b for b in experiment.baselines}
    caption = f"*Recall of the test queries at cut-offs up to each run's depth (relevant from grade {rel})"
    best = best_student(experiment.students)
    if best is not None:
        shown[f"{best.name} (best student)"] = best
        caption += (
            f"; the best student, {best.name}, is the one with the highest best validation "
            f"{best.validation_metric} ({fmt(best.best[1])}), chosen without looking at the test queries"
        )
    elif experiment.students:
        caption += "; no student is shown: none was validated, and picking one on the test queries would flatter it"
    recalls = {label: recall_at_cutoffs(read_run(system.folder / layout.TEST_RUN), qrels, rel) for label, system in shown.items()}
    plots.recall_plot(path, {label: values for label, values in recalls.items() if values}, before_replace=before_replace)
    return [f"![Recall at cut-offs]({path.relative_to(base).as_posix()})", "", caption + ".*", ""]


@dataclasses.dataclass
class ReportConfig(Checked):
    """``tasb report``: which experiment folder, and where its report goes."""

    experiment: str = ""
    # None: <experiment>/report.md; figures go to figures/ beside it
    out: str | None = None
    # None: a heading naming the experiment
    title: str | None = None

    required = {"experiment": "a folder written by tasb experiment"}


@tasb_command(
    ReportConfig,
    "tasb report runs/scifact-grid --out docs/results.md --title 'Ablations on SciFact'",
    [
        argument("experiment", Optional[Path], "folder written by tasb experiment"),
        described(OUT, "Markdown file to write (figures go to figures/ beside it); default: EXPERIMENT/report.md"),
        option("title", Optional[str], "--title", "heading of the report"),
    ],
)
def command(config: ReportConfig) -> None:
    """Tables shaped like the paper's Tables 3-5 with paired t-test marks, validation curves and recall at cut-offs."""
    from tasb.apps.experiment import ExperimentConfig

    settings = load_config(ExperimentConfig, Path(config.experiment) / layout.EXPERIMENT_CONFIG)
    path = build_report(config.experiment, config.out, title=config.title, rel=settings.rel)
    typer.echo(f"report in {path}")
