"""``tasb sample``: the batches it writes, the comparison plot, and what it refuses."""

from __future__ import annotations

import json
import traceback
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from scipy.stats import chisquare
from typer.testing import CliRunner

from tasb.cli import app
from tasb.evaluation.plots import drawn_by_tasb
from tasb.sampling.stats import cluster_usage

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
CLUSTERS, PER_CLUSTER = 6, 10
BINS = 4
# one pair in each of the lower three margin ranges of [0, 8], a dozen in the top one: Random's pairs are mostly easy
MARGINS = [0.0, 2.5, 4.5, 8.0] + [7.5] * 12
KEYS = {"qid", "pid_pos", "pid_neg", "cluster", "margin", "bin"}


@pytest.fixture
def files(tmp_path) -> tuple[Path, Path]:
    scores, clusters = [], []
    for c in range(CLUSTERS):
        for i in range(PER_CLUSTER):
            qid = f"c{c}q{i}"
            clusters.append(f"{qid}\ttopic-{c}")
            scores += [f"{10 + m:.6f}\t10.000000\t{qid}\t{qid}-pos\t{qid}-neg{j}" for j, m in enumerate(MARGINS)]
    (tmp_path / "scores.tsv").write_text("\n".join(scores) + "\n", encoding="utf-8")
    (tmp_path / "clusters.tsv").write_text("\n".join(clusters) + "\n", encoding="utf-8")
    return tmp_path / "scores.tsv", tmp_path / "clusters.tsv"


def _run(*args) -> Result:
    return CliRunner().invoke(app, ["sample", *[str(a) for a in args]])


def _ok(*args) -> str:
    result = _run(*args)
    assert result.exit_code == 0, result.output + "".join(traceback.format_exception(*result.exc_info))
    return result.output


def _sample(files, out: Path, sampler: str, batches: int = 20, batch_size: int = 8, *extra) -> list[dict]:
    scores, clusters = files
    _ok("--teacher-scores", scores, "--clusters", clusters, "--sampler", sampler, "--batches", batches,
        "--batch-size", batch_size, "--margin-bins", BINS, "--out", out, *extra)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def _bin_counts(batches: list[dict]) -> np.ndarray:
    return np.bincount([pair["bin"] for batch in batches for pair in batch["pairs"]], minlength=BINS)


@pytest.mark.slow
def test_every_batch_holds_b_pairs_of_distinct_queries_with_their_margin_bin_and_cluster(files, tmp_path):
    out = tmp_path / "batches.jsonl"
    batches = _sample(files, out, "tas-balanced", batches=15, batch_size=8)
    assert [batch["batch"] for batch in batches] == list(range(15))
    for batch in batches:
        assert len(batch["pairs"]) == 8
        assert len({pair["qid"] for pair in batch["pairs"]}) == 8
        for pair in batch["pairs"]:
            assert set(pair) == KEYS
            j = int(pair["pid_neg"].rsplit("neg", 1)[1])
            assert pair["pid_pos"] == f"{pair['qid']}-pos"
            assert pair["margin"] == MARGINS[j]
            assert 0 <= pair["bin"] < BINS
            assert pair["bin"] == min(int(MARGINS[j] / 8.0 * BINS), BINS - 1)
            assert pair["cluster"] == f"topic-{pair['qid'][1]}"
    assert (tmp_path / "batches.png").read_bytes()[:8] == PNG_MAGIC  # <out stem>.png next to --out
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind


@pytest.mark.slow
def test_tas_with_one_cluster_per_batch_fills_each_batch_from_one_cluster(files, tmp_path):
    batches = _sample(files, tmp_path / "tas.jsonl", "tas", batches=30)
    assert all(len({pair["cluster"] for pair in batch["pairs"]}) == 1 for batch in batches)
    # Random mixes topics: with 8 of 60 queries from 6 clusters, a batch from one cluster is all but impossible
    mixed = _sample(files, tmp_path / "random.jsonl", "random", batches=30)
    assert all(len({pair["cluster"] for pair in batch["pairs"]}) > 1 for batch in mixed)


@pytest.mark.slow
def test_tas_balanced_spreads_pairs_over_the_margin_bins_random_piles_them_in_the_easy_one(files, tmp_path):
    random_bins = _bin_counts(_sample(files, tmp_path / "random.jsonl", "random", batches=50))
    balanced_bins = _bin_counts(_sample(files, tmp_path / "balanced.jsonl", "tas-balanced", batches=50))
    assert random_bins.argmax() == BINS - 1 and random_bins[-1] > 0.6 * random_bins.sum()
    random_stat, balanced_stat = chisquare(random_bins).statistic, chisquare(balanced_bins).statistic
    assert balanced_stat < random_stat / 10
    assert chisquare(balanced_bins).pvalue > 0.001  # indistinguishable from uniform: every query has all 4 ranges


@pytest.mark.slow
def test_the_same_seed_writes_the_same_files_another_seed_other_batches(files, tmp_path):
    runs = {}
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        _sample(files, tmp_path / f"{name}.jsonl", "tas-balanced", 10, 8, "--seed", seed)
        runs[name] = ((tmp_path / f"{name}.jsonl").read_bytes(), (tmp_path / f"{name}.png").read_bytes())
    assert runs["a"] == runs["b"]
    assert runs["a"][0] != runs["c"][0]


@pytest.mark.slow
def test_without_clusters_random_batches_have_no_cluster_and_the_plot_goes_where_asked(files, tmp_path):
    scores, _ = files
    out, plot = tmp_path / "out" / "batches.jsonl", tmp_path / "figures" / "sampling.png"
    output = _ok("--teacher-scores", scores, "--batches", 5, "--batch-size", 4, "--out", out, "--plot", plot)
    assert "TAS-Balanced (one cluster)" in output
    lines = out.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 5
    assert all(pair["cluster"] is None for line in lines for pair in json.loads(line)["pairs"])
    assert plot.read_bytes()[:8] == PNG_MAGIC
    assert not (tmp_path / "out" / "batches.png").exists()


def test_a_file_of_the_users_where_the_plot_would_go_unnamed_is_refused_and_kept(files, tmp_path):
    scores, clusters = files
    mine = tmp_path / "batches.png"
    mine.write_bytes(PNG_MAGIC + b"a chart of my own")
    args = ["--teacher-scores", scores, "--clusters", clusters, "--batch-size", 4, "--batches", 3, "--out", tmp_path / "batches.jsonl"]

    result = _run(*args)

    assert result.exit_code == 2 and "no file, or one tasb wrote" in result.output and "--plot" in result.output
    assert mine.read_bytes() == PNG_MAGIC + b"a chart of my own"
    assert not (tmp_path / "batches.jsonl").exists()
    # named with --plot, it is the user's call, as --out is; then the plot tasb drew is redrawn unnamed
    _ok(*args, "--plot", mine)
    assert mine.read_bytes()[:8] == PNG_MAGIC and drawn_by_tasb(mine)
    _ok(*args)


@pytest.mark.parametrize("meanwhile", ["batches drawn", "figure rendered"])
def test_a_file_of_the_users_put_where_the_plot_goes_while_tasb_works_is_refused_and_kept(files, tmp_path, monkeypatch, meanwhile):
    from matplotlib.figure import Figure

    from tasb.sampling import stats

    scores, clusters = files
    mine = tmp_path / "batches.png"

    def the_user_saves_a_chart_during(owner, name):
        real = getattr(owner, name)

        def patched(*args, **kwargs):
            mine.write_bytes(PNG_MAGIC + b"saved meanwhile")
            return real(*args, **kwargs)

        monkeypatch.setattr(owner, name, patched)

    the_user_saves_a_chart_during(*((stats, "draw") if meanwhile == "batches drawn" else (Figure, "savefig")))
    result = _run("--teacher-scores", scores, "--clusters", clusters, "--batch-size", 4, "--batches", 3, "--out", tmp_path / "batches.jsonl")

    assert result.exit_code == 2 and "no file, or one tasb wrote" in result.output
    assert "batches.png" in result.output
    assert mine.read_bytes() == PNG_MAGIC + b"saved meanwhile"
    assert not (tmp_path / "batches.jsonl").exists()
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "case, expected",
    [
        ("tas without clusters", "clusters file"),
        ("tas-balanced without clusters", "clusters file"),
        ("query without a cluster", "none for query c5q9"),
        ("batch larger than the queries", "61 distinct queries"),
        ("bad score line", "5 tab-separated columns"),
        ("bad cluster line", "2 tab-separated columns"),
        ("too many clusters per batch", "clusters_per_batch"),
        ("no batches", "batches: expected at least 1"),
        ("plot over the batches", "a plot path other than"),
    ],
)
def test_errors_exit_2_and_leave_nothing_behind(files, tmp_path, case, expected):
    scores, clusters = files
    out = tmp_path / "run" / "batches.jsonl"
    args = {"--teacher-scores": scores, "--clusters": clusters, "--sampler": "tas", "--batch-size": 8, "--out": out}
    if case.endswith("without clusters"):
        args["--sampler"] = case.split()[0]
        del args["--clusters"]
    elif case == "query without a cluster":
        lines = clusters.read_text(encoding="utf-8").splitlines()
        args["--clusters"] = _write(tmp_path / "partial.tsv", "\n".join(lines[:-1]) + "\n")
    elif case == "batch larger than the queries":
        args["--batch-size"] = CLUSTERS * PER_CLUSTER + 1
    elif case == "bad score line":
        args["--teacher-scores"] = _write(tmp_path / "bad.tsv", scores.read_text(encoding="utf-8") + "1.0\t0.5\tq\n")
    elif case == "bad cluster line":
        args["--clusters"] = _write(tmp_path / "bad-clusters.tsv", clusters.read_text(encoding="utf-8") + "q1\n")
    elif case == "too many clusters per batch":
        args["--clusters-per-batch"] = CLUSTERS + 1
    elif case == "no batches":
        args["--batches"] = 0
    elif case == "plot over the batches":
        args["--plot"] = out
    result = _run(*[item for pair in args.items() for item in pair])
    assert result.exit_code == 2, result.output
    assert expected in result.output
    if case == "query without a cluster":
        assert "partial.tsv" in result.output
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_a_failing_plot_leaves_no_batches_file(files, tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("plot failed")

    monkeypatch.setattr("tasb.evaluation.plots.sampling_plot", broken)
    scores, clusters = files
    result = _run("--teacher-scores", scores, "--clusters", clusters, "--batch-size", 4, "--batches", 3, "--out", tmp_path / "b.jsonl")
    assert isinstance(result.exception, RuntimeError)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clusters.tsv", "scores.tsv"]


def test_cluster_usage_counts_each_cluster_once_per_batch():
    query_index = np.array([0, 0, 1, 2, 3])  # pairs 0 and 1 belong to query 0, pairs 2-4 to queries 1-3
    labels = ["x", "y", "x", "z"]  # the cluster of each query
    indices = np.array([[0, 2, 4], [1, 3, 4], [0, 1, 2]])  # batch 2 holds query 0 twice: x counts once
    assert cluster_usage(indices, query_index, labels).tolist() == [3, 2, 2]  # x, y, z in first-seen order
