"""``tasb cluster`` end to end with a tiny random BERT, plus the cluster file and the plot on their own."""

from __future__ import annotations

import json
import traceback
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from typer.testing import CliRunner

from tasb.cli import app
from tasb.data import read_clusters, write_clusters
from tasb.evaluation.plots import cluster_plot

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TOPICS = {
    "coffee": ["how much caffeine is in {} coffee", "does {} coffee go stale", "best grind for {} coffee"],
    "taxes": ["when are {} taxes due", "how to file {} taxes online", "what is the {} tax rate"],
    "dogs": ["how often to feed a {} dog", "why does my {} dog bark", "how long do {} dogs live"],
}
WORDS = ["french", "cold", "small", "old", "local", "state"]


@pytest.fixture
def queries_tsv(tmp_path) -> Path:
    texts = [pattern.format(word) for patterns in TOPICS.values() for pattern in patterns for word in WORDS]
    lines = [f"q{i}\t{text}" for i, text in enumerate(texts)]
    path = tmp_path / "queries.tsv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _run(*args) -> Result:
    return CliRunner().invoke(app, ["cluster", *[str(a) for a in args]])


def _ok(*args) -> str:
    result = _run(*args)
    assert result.exit_code == 0, result.output + "".join(traceback.format_exception(*result.exc_info))
    return result.output


@pytest.mark.slow
def test_cluster_writes_every_output(queries_tsv, tiny_bert_dir, tmp_path):
    out = tmp_path / "clusters"
    output = _ok("--queries", queries_tsv, "--model", tiny_bert_dir, "--out", out, "--num-clusters", 4, "--seed", 1, "--plot-clusters", 3, "--no-bf16")
    assert "54 queries in 4 clusters" in output

    rows = [line.split("\t") for line in (out / "clusters.tsv").read_text().splitlines()]
    qids = [line.split("\t")[0] for line in queries_tsv.read_text().splitlines()]
    assert [qid for qid, _ in rows] == qids  # every query once, in the file's order
    assert {cluster for _, cluster in rows} <= {"0", "1", "2", "3"}
    assert read_clusters(out / "clusters.tsv") == dict(rows)  # what `tasb train` reads back

    sizes = json.loads((out / "sizes.json").read_text())
    assert sizes["k"] == 4 and sizes["n"] == 54 and sizes["seed"] == 1
    assert sizes["model"] == str(tiny_bert_dir.resolve())
    assert sum(sizes["sizes"].values()) == 54
    counts = Counter(cluster for _, cluster in rows)
    assert sizes["sizes"] == {str(c): counts.get(str(c), 0) for c in range(4)}
    assert sizes["size_min"] == min(sizes["sizes"].values()) and sizes["size_max"] == max(sizes["sizes"].values())
    assert len(sizes["plotted"]) == min(3, 4 - sizes["empty"])

    centroids = np.load(out / "centroids.npy")
    assert centroids.shape == (4, 32) and centroids.dtype == np.float32
    assert (out / "clusters.png").read_bytes()[:8] == PNG_MAGIC
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp folder left behind


@pytest.mark.slow
def test_same_seed_same_clusters_and_rerun_replaces_the_folder(queries_tsv, tiny_bert_dir, tmp_path):
    common = ("--queries", queries_tsv, "--model", tiny_bert_dir, "--num-clusters", 5, "--no-bf16")
    _ok(*common, "--out", tmp_path / "a")
    _ok(*common, "--out", tmp_path / "b")
    _ok(*common, "--out", tmp_path / "b")
    assert (tmp_path / "a" / "clusters.tsv").read_text() == (tmp_path / "b" / "clusters.tsv").read_text()


@pytest.mark.slow
def test_default_k_is_one_cluster_per_200_queries(queries_tsv, tiny_bert_dir, tmp_path):
    _ok("--queries", queries_tsv, "--model", tiny_bert_dir, "--out", tmp_path / "c", "--no-bf16")
    assert json.loads((tmp_path / "c" / "sizes.json").read_text())["k"] == 1


def test_bad_k_exits_2_before_writing(queries_tsv, tiny_bert_dir, tmp_path):
    result = _run("--queries", queries_tsv, "--model", tiny_bert_dir, "--out", tmp_path / "c", "--num-clusters", 55)
    assert result.exit_code == 2
    assert "between 1 and the number of vectors (54)" in result.output
    assert not (tmp_path / "c").exists()


def test_a_folder_of_other_files_is_not_replaced(queries_tsv, tiny_bert_dir, tmp_path):
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "keep.txt").write_text("mine")
    result = _run("--queries", queries_tsv, "--model", tiny_bert_dir, "--out", tmp_path / "notes", "--num-clusters", 2)
    assert result.exit_code == 2 and "other files" in result.output
    assert (tmp_path / "notes" / "keep.txt").read_text() == "mine"


def test_write_clusters_is_qid_tab_cluster_without_header(tmp_path):
    path = tmp_path / "clusters.tsv"
    assert write_clusters({"q2": 1, "q10": 0, "q1": 1}, path) == 3
    assert path.read_text() == "q2\t1\nq10\t0\nq1\t1\n"


@pytest.mark.parametrize("assignments", [[0, 1], [0, 1, 1]])
@pytest.mark.slow
def test_plot_copes_with_clusters_of_one_and_two_queries(tmp_path, assignments):
    vectors = np.random.default_rng(0).normal(size=(len(assignments), 8)).astype(np.float32)
    texts = [f"query {i}" for i in range(len(assignments))]
    shown = cluster_plot(vectors, np.array(assignments), texts, tmp_path / "tiny.png", clusters=6, seed=0)
    assert shown == [0, 1]
    assert (tmp_path / "tiny.png").read_bytes()[:8] == PNG_MAGIC
