"""``build_report`` on a small fabricated experiment folder: the paper's table shapes, marks, and figures."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from tasb.data import read_run
from tasb.errors import InputError
from tasb.apps.report import REGION_BEGIN, REGION_END, build_report
from tasb.evaluation.plots import drawn_by_tasb

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
QUERIES = [f"q{i}" for i in range(12)]
BASE = np.random.default_rng(0).uniform(0.3, 0.5, size=len(QUERIES))

# folder, system.json, offset over the shared per-query base, best validation. Equal offsets differ only by
# zero-mean noise (never significant), offsets 0.1 apart always are.
BASELINES = [
    ("bm25", {"kind": "baseline", "name": "BM25", "key": "b", "compare": True}, -0.1),
    ("initial", {"kind": "baseline", "name": "initial model", "key": "I"}, -0.2),
]
STUDENTS = [
    ("pair-random-s1", "random", "pairwise", "margin-mse", 1, -0.1, 0.60),
    ("pair-tas-s1", "tas", "pairwise", "margin-mse", 1, -0.1, 0.61),
    ("pair-tasb-s1", "tas-balanced", "pairwise", "margin-mse", 1, 0.0, 0.62),
    ("inbatch-random-kldiv-s1", "random", "in-batch", "kldiv", 1, 0.0, 0.99),
    ("dual-random-s1", "random", "dual", "margin-mse", 1, 0.0, 0.63),
    ("dual-tas-s1", "tas", "dual", "margin-mse", 1, 0.1, 0.64),
    ("dual-tasb-s1", "tas-balanced", "dual", "margin-mse", 1, 0.2, 0.65),
    ("dual-tasb-kldiv-s1", "tas-balanced", "dual", "kldiv", 1, 0.1, 0.64),
    ("dual-tasb-s2", "tas-balanced", "dual", "margin-mse", 2, 0.2, 0.65),
    ("dual-tasb-s3", "tas-balanced", "dual", "margin-mse", 3, 0.3, 0.66),
]


def _noise(index: int) -> np.ndarray:
    signs = np.array([1.0, -1.0] * (len(QUERIES) // 2))
    return 0.01 * np.random.default_rng(100 + index).permutation(signs)


def _write_json(path: Path, data) -> None:
    path.write_text(json.dumps(data), encoding="utf-8")


def _write_system(folder: Path, info: dict, ndcg: np.ndarray, depth: int, evaluated: bool = True) -> None:
    folder.mkdir(parents=True)
    _write_json(folder / "system.json", info)
    per_query = {"nDCG@10": dict(zip(QUERIES, ndcg.tolist())), "RR@10": dict(zip(QUERIES, (ndcg + 0.05).tolist()))}
    _write_json(folder / "per_query.json", per_query)
    _write_json(folder / "test_metrics.json", {m: float(np.mean(list(v.values()))) for m, v in per_query.items()})
    rng = np.random.default_rng(len(info["name"]))
    lines = []
    for qid in QUERIES:
        for rank, p in enumerate(rng.permutation(depth)[:depth], start=1):
            lines.append(f"{qid} Q0 p{p} {rank} {depth - rank}.0 fake")
    (folder / "test.trec").write_text("\n".join(lines) + "\n", encoding="utf-8")
    if evaluated:
        (folder / "EVALUATED").touch()


@pytest.fixture
def grid(tmp_path) -> Path:
    exp = tmp_path / "grid-exp"
    exp.mkdir()
    (exp / "test.qrels").write_text("".join(f"{q} 0 p{p} {1 + p % 2}\n" for q in QUERIES for p in (3, 40, 77)))
    for index, (folder, info, offset) in enumerate(BASELINES):
        _write_system(exp / "baselines" / folder, info, BASE + offset + _noise(index), depth=100)
    for index, (name, sampler, teacher, loss, seed, offset, best) in enumerate(STUDENTS, start=len(BASELINES)):
        info = {"kind": "student", "name": name, "sampler": sampler, "teacher_mode": teacher, "inbatch_loss": loss, "seed": seed}
        folder = exp / "runs" / name
        _write_system(folder, info, BASE + offset + _noise(index), depth=50)
        curve = [best - 0.05, best, best - 0.01]
        records = [{"step": 20 * i, "nDCG@10": v, "best": v == best, "elapsed_s": 3.0 * i} for i, v in enumerate(curve)]
        (folder / "validation.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
        _write_json(folder / "metrics.json", {"steps": 40, "best_step": 20, "best_validation": best,
                                              "validation_metric": "nDCG@10", "stopped_by": "steps", "seconds": 90.0})
    # a run still training and a baseline that never finished evaluating
    info = {"kind": "student", "name": "still-training", "sampler": "tas", "teacher_mode": "dual",
            "inbatch_loss": "margin-mse", "seed": 1}
    _write_system(exp / "runs" / "still-training", info, BASE + 0.5, depth=50, evaluated=False)
    _write_system(exp / "baselines" / "slow", {"kind": "baseline", "name": "slow"}, BASE, depth=50, evaluated=False)
    return exp


def _fmt(value: float) -> str:
    return f"{value:.3f}".replace("0.", ".", 1)


def _mean_ndcg(name: str) -> float:
    index, offset = next((i, s[5]) for i, s in enumerate(STUDENTS, start=len(BASELINES)) if s[0] == name)
    return float(np.mean(BASE + offset + _noise(index)))


def _section(report: str, heading: str) -> list[list[str]]:
    """The table rows (cells, header and rule dropped) of the section whose heading starts with ``heading``."""
    body = report.split("\n## " + heading, 1)[1].split("\n## ", 1)[0]
    rows = [line for line in body.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[2:]]


def _report(grid: Path) -> str:
    return build_report(grid).read_text(encoding="utf-8")


def test_teacher_sampler_table_lists_baselines_then_each_teacher_in_the_papers_order(grid):
    report = _report(grid)
    assert "## Teacher × sampler (Table 4 shape, seed 1)" in report
    rows = _section(report, "Teacher × sampler")
    assert [row[:2] for row in rows] == [
        ["BM25", "–"], ["initial model", "–"],
        ["pairwise", "random"], ["pairwise", "tas"], ["pairwise", "tas-balanced"],
        ["in-batch (kldiv)", "random"],  # the only loss run for in-batch: named, since it is not margin-mse
        ["dual", "random"], ["dual", "tas"], ["dual", "tas-balanced"],
    ]
    ndcg = {tuple(row[:2]): row[2] for row in rows}
    # the margin-mse run fills the dual tas-balanced cell, not the kldiv one of the same seed
    assert ndcg[("dual", "tas-balanced")].startswith(f"**{_fmt(_mean_ndcg('dual-tasb-s1'))}**")


def test_values_carry_the_keys_of_the_rows_they_significantly_beat(grid):
    ndcg = {tuple(row[:2]): row[2] for row in _section(_report(grid), "Teacher × sampler")}
    # BM25 is compared (key "b" in system.json, shown uppercase); the initial model is not
    assert ndcg[("dual", "tas-balanced")].endswith("<sup>Brt</sup>")
    assert ndcg[("dual", "tas")].endswith("<sup>Br</sup>")
    assert ndcg[("dual", "random")].endswith("<sup>B</sup>")
    assert ndcg[("in-batch (kldiv)", "random")].endswith("<sup>B</sup>")
    assert ndcg[("pairwise", "tas-balanced")].endswith("<sup>Brt</sup>")
    # level with BM25 and with each other: no marks
    assert "<sup>" not in ndcg[("pairwise", "random")] + ndcg[("pairwise", "tas")]
    assert "<sup>" not in ndcg[("BM25", "–")] + ndcg[("initial model", "–")]


def test_only_the_best_student_value_of_each_column_is_bold(grid):
    rows = _section(_report(grid), "Teacher × sampler")
    bold = [(tuple(row[:2]), column) for row in rows for column, cell in enumerate(row) if cell.startswith("**")]
    assert bold == [(("dual", "tas-balanced"), 2), (("dual", "tas-balanced"), 3)]


def test_seed_table_marks_instances_and_ends_with_mean_and_sample_std(grid):
    report = _report(grid)
    rows = _section(report, "Seeds: tas-balanced · dual · margin-mse")
    assert [row[:2] for row in rows] == [["**A**", "1"], ["**B**", "2"], ["**C**", "3"], ["mean ± std", ""], ["min – max", ""]]
    assert rows[2][2].endswith("<sup>ab</sup>")  # seed 3 is 0.1 above the others, which are level
    assert "<sup>" not in rows[0][2] + rows[1][2]
    values = [_mean_ndcg(name) for name in ("dual-tasb-s1", "dual-tasb-s2", "dual-tasb-s3")]
    assert rows[3][2] == f"{_fmt(np.mean(values))} ± {_fmt(np.std(values, ddof=1))}"
    assert rows[4][2] == f"{_fmt(min(values))} – {_fmt(max(values))}"
    # every other configuration was run with one seed only
    assert report.count("\n## Seeds:") == 1


def test_loss_table_appears_only_where_two_losses_were_run(grid):
    report = _report(grid)
    assert report.count("\n## In-batch loss:") == 1  # in-batch random has kldiv alone
    rows = _section(report, "In-batch loss: tas-balanced sampling, dual teacher")
    assert [row[0] for row in rows] == ["kldiv", "margin-mse"]
    assert rows[1][1] == f"**{_fmt(_mean_ndcg('dual-tasb-s1'))}** <sup>k</sup>"
    assert "<sup>" not in rows[0][1]


def test_unfinished_systems_are_skipped_and_counted(grid):
    report = _report(grid)
    assert "Skipped 2 unfinished (no EVALUATED marker): baselines/slow, runs/still-training." in report
    assert "still-training" not in report.split("Skipped", 1)[1].split("\n", 1)[1]


def test_runs_table_has_a_row_per_finished_student(grid):
    rows = _section(_report(grid), "Runs")
    assert [row[0] for row in rows] == sorted(s[0] for s in STUDENTS)
    assert ["dual-tasb-s3", "tas-balanced · dual · margin-mse", "3", "40", "20", "steps", "1.5", "nDCG@10", ".660"] in rows


def test_figures_are_written_beside_the_report_and_linked_relatively(grid, tmp_path):
    out = build_report(grid, out_path=tmp_path / "docs" / "report.md", title="Grid")
    report = out.read_text(encoding="utf-8")
    # the page marks its region, so a rerun knows the page for a report it may replace
    assert report.startswith(f"{REGION_BEGIN}\n# Grid\n") and report.endswith(f"\n{REGION_END}\n")
    assert build_report(grid, out_path=out, title="Grid").read_text(encoding="utf-8") == report
    for kind in ("validation", "recall"):
        figure = tmp_path / "docs" / "figures" / f"grid-exp-{kind}.png"
        assert figure.read_bytes().startswith(PNG_MAGIC)
        assert f"(figures/grid-exp-{kind}.png)" in report
    # chosen on validation (.99), although dual-tasb-s3 is best on test
    assert "the best student, inbatch-random-kldiv-s1, is the one with the highest best validation" in report


def test_a_folder_without_finished_systems_is_refused(tmp_path):
    with pytest.raises(InputError, match="at least one finished system"):
        build_report(tmp_path)
    _write_system(tmp_path / "runs" / "half", {"kind": "baseline", "name": "half"}, BASE, depth=10, evaluated=False)
    with pytest.raises(InputError, match="1 unfinished"):
        build_report(tmp_path)
    with pytest.raises(InputError, match="no such folder"):
        build_report(tmp_path / "missing")


def test_recall_figure_shows_baselines_and_the_best_student_up_to_each_runs_depth(grid, monkeypatch):
    drawn = {}
    monkeypatch.setattr("tasb.evaluation.plots.recall_plot", lambda path, recalls, **_: drawn.update(recalls))
    build_report(grid, rel=2)
    assert list(drawn) == ["BM25", "initial model", "inbatch-random-kldiv-s1 (best student)"]
    assert list(drawn["BM25"]) == [10, 20, 50, 100]  # ranked 100 deep
    assert list(drawn["inbatch-random-kldiv-s1 (best student)"]) == [10, 20, 50]  # ranked 50 deep
    # rel=2 counts only p3 and p77 (grade 2) as relevant, p40 (grade 1) not
    run = read_run(grid / "baselines" / "bm25" / "test.trec")
    ranked = {q: sorted(run[q], key=run[q].get, reverse=True) for q in QUERIES}
    expected = [np.mean([len({"p3", "p77"} & set(ranked[q][:k])) / 2 for q in QUERIES]) for k in (10, 20, 50, 100)]
    assert list(drawn["BM25"].values()) == pytest.approx(expected)


def test_a_folder_of_baselines_only_gets_their_table_and_the_recall_figure(grid, monkeypatch):
    for name, *_ in STUDENTS:
        (grid / "runs" / name / "EVALUATED").unlink()
    monkeypatch.chdir(grid)
    # a file of the user's where no validation figure will be drawn stands in nobody's way
    (grid / "figures").mkdir()
    (grid / "figures" / "grid-exp-validation.png").write_bytes(b"mine")
    report = build_report(".").read_text(encoding="utf-8")
    assert (grid / "figures" / "grid-exp-validation.png").read_bytes() == b"mine"
    assert [row[0] for row in _section(report, "Baselines")] == ["BM25", "initial model"]
    assert "(figures/grid-exp-recall.png)" in report and "validation.png" not in report
    assert (grid / "figures" / "grid-exp-recall.png").read_bytes().startswith(PNG_MAGIC)


def test_runs_trained_without_validation_are_reported_but_never_picked_as_best(grid):
    # what the trainer writes without validation queries: no best step or value, no validation log
    for name, *_ in STUDENTS:
        folder = grid / "runs" / name
        (folder / "validation.jsonl").unlink()
        _write_json(folder / "metrics.json", {"steps": 40, "final_loss": 0.1, "seconds": 90.0, "stopped_by": "steps"})
    report = _report(grid)
    runs = _section(report, "Runs")
    assert ["dual-tasb-s3", "tas-balanced · dual · margin-mse", "3", "40", "–", "steps", "1.5", "–", "–"] in runs
    assert "no validation curves" in report and "validation.png" not in report
    assert "no student is shown: none was validated" in report
    assert (grid / "figures" / "grid-exp-recall.png").read_bytes().startswith(PNG_MAGIC)


@pytest.mark.slow
@pytest.mark.parametrize("marker", ["<!-- tasb report: begin -->", "<!-- tasb report: end -->"])
def test_a_page_with_half_a_report_region_is_refused_and_left_as_it_was(grid, tmp_path, marker):
    page = tmp_path / "results.md"
    text = f"# My results\n\nhow it was run\n\n{marker}\nold tables\n\nwhat it shows\n"
    page.write_text(text)

    with pytest.raises(InputError, match="begin --> followed by <!-- tasb report: end") as caught:
        build_report(grid, page, title="Grid")

    assert (caught.value.path, caught.value.line) == (str(page), 5)
    assert page.read_text() == text
    assert not (tmp_path / "figures").exists()


@pytest.mark.slow
def test_a_page_with_a_report_region_keeps_its_own_text_when_regenerated(grid, tmp_path):
    page = tmp_path / "results.md"
    page.write_text("# My results\n\nhow it was run\n\n<!-- tasb report: begin -->\nold tables\n<!-- tasb report: end -->\n\nwhat it shows\n")

    build_report(grid, page, title="Grid")
    once = page.read_text()
    build_report(grid, page, title="Grid")

    assert once.startswith("# My results\n\nhow it was run\n\n<!-- tasb report: begin -->\n# Grid\n")
    assert once.endswith("<!-- tasb report: end -->\n\nwhat it shows\n")
    assert "old tables" not in once and "## Teacher × sampler" in once
    assert page.read_text() == once


@pytest.mark.slow
def test_a_page_without_a_report_region_is_refused_and_left_as_it_was(grid, tmp_path):
    page = tmp_path / "README.md"
    page.write_text("# My project\n\nhand-written\n")

    with pytest.raises(InputError, match="a new page, or one holding <!-- tasb report: begin -->"):
        build_report(grid, page, title="Grid")

    assert page.read_text() == "# My project\n\nhand-written\n"
    assert not (tmp_path / "figures").exists()
    # an empty page holds nobody's text
    (tmp_path / "empty.md").touch()
    assert build_report(grid, tmp_path / "empty.md").read_text().startswith(REGION_BEGIN)


@pytest.mark.slow
def test_the_experiments_own_report_from_before_regions_is_replaced(grid):
    (grid / "report.md").write_text("# Experiment grid-exp\n\nold tables\n")
    report = _report(grid)
    assert report.startswith(f"{REGION_BEGIN}\n# Experiment ") and "old tables" not in report


@pytest.mark.slow
def test_a_gzipped_page_is_regenerated_in_place_and_a_binary_page_refused(grid, tmp_path):
    page = tmp_path / "results.md.gz"
    build_report(grid, page, title="Grid")
    once = gzip.decompress(page.read_bytes()).decode()
    build_report(grid, page, title="Grid")
    assert once.startswith(f"{REGION_BEGIN}\n# Grid\n") and gzip.decompress(page.read_bytes()).decode() == once

    binary = tmp_path / "notes.md"
    binary.write_bytes(b"\xff\xfe# not UTF-8\n")
    with pytest.raises(InputError, match="a UTF-8 text page"):
        build_report(grid, binary, title="Grid")
    assert binary.read_bytes() == b"\xff\xfe# not UTF-8\n"
    damaged = tmp_path / "damaged.md.gz"
    damaged.write_bytes(page.read_bytes()[:20] + b"\x00" * 40 + page.read_bytes()[60:])
    with pytest.raises(InputError, match="a gzipped UTF-8 text page"):
        build_report(grid, damaged, title="Grid")


@pytest.mark.slow
def test_a_figure_of_the_users_where_the_report_draws_its_own_is_refused_and_kept(grid, tmp_path):
    page, figure = tmp_path / "results.md", tmp_path / "figures" / "grid-exp-recall.png"
    figure.parent.mkdir()
    figure.write_bytes(PNG_MAGIC + b"a chart of my own")

    with pytest.raises(InputError, match="no file, or one tasb wrote") as caught:
        build_report(grid, page, title="Grid")

    assert caught.value.path == str(figure)
    assert figure.read_bytes() == PNG_MAGIC + b"a chart of my own"
    assert not page.exists() and not (tmp_path / "figures" / "grid-exp-validation.png").exists()


def test_a_figure_the_user_saves_where_the_report_draws_while_it_is_drawn_is_refused_and_kept(grid, tmp_path, monkeypatch):
    from matplotlib.figure import Figure

    page, figure = tmp_path / "results.md", tmp_path / "figures" / "grid-exp-recall.png"
    real_savefig = Figure.savefig

    def savefig_while_the_user_saves_a_chart(self, *args, **kwargs):
        if self.axes and self.axes[0].get_xscale() == "log":  # the recall figure; the validation one is drawn first
            figure.write_bytes(PNG_MAGIC + b"saved meanwhile")
        return real_savefig(self, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", savefig_while_the_user_saves_a_chart)
    with pytest.raises(InputError, match="no file, or one tasb wrote") as caught:
        build_report(grid, page, title="Grid")

    assert caught.value.path == str(figure)
    assert figure.read_bytes() == PNG_MAGIC + b"saved meanwhile"
    assert not page.exists()
    assert [p.name for p in figure.parent.iterdir() if p.name.startswith(".")] == []


@pytest.mark.slow
def test_the_reports_own_figures_are_redrawn_marked_or_linked_from_the_page_as_before_marks(grid, tmp_path):
    page = build_report(grid, tmp_path / "results.md", title="Grid")
    assert drawn_by_tasb(tmp_path / "figures" / "grid-exp-recall.png")
    build_report(grid, page, title="Grid")  # marked as tasb's: redrawn
    unmarked = tmp_path / "figures" / "grid-exp-validation.png"
    unmarked.write_bytes(PNG_MAGIC + b"drawn before tasb marked its figures")
    build_report(grid, page, title="Grid")  # the page's report shows it: the report's own
    assert drawn_by_tasb(unmarked)
    # ... but not a symlink put there since, to a file of the user's
    mine = tmp_path / "thesis.png"
    mine.write_bytes(PNG_MAGIC + b"a chart of my own")
    unmarked.unlink()
    unmarked.symlink_to(mine)
    with pytest.raises(InputError, match="no file, or one tasb wrote"):
        build_report(grid, page, title="Grid")
    assert mine.read_bytes() == PNG_MAGIC + b"a chart of my own"
