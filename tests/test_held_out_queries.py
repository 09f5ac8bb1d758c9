"""The student's validation queries stay out of its teachers: `--validation-qids` on tasb teacher train,
train-colbert and score leaves them out of what each teacher learns from and of the score file it writes."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import tasb.training.colbert_trainer
import tasb.training.cross_encoder_trainer
from tasb.cli import app
from tasb.data import read_scores

CORPUS = "".join(f"p{i}\tpassage {i} about topic {i % 3}\n" for i in range(1, 9))
QUERIES = "".join(f"q{i}\ttopic {i % 3} question {i}\n" for i in range(1, 5))
QRELS = "".join(f"q{i} 0 p{i} 1\n" for i in range(1, 5))
RUN = "".join(f"q{i} Q0 p{j} {j} {9 - j}.0 r\n" for i in range(1, 5) for j in range(1, 9))
SCORES = "".join(f"5.0\t1.0\tq{i}\tp{i}\tp{i % 8 + 1}\n" for i in range(1, 5))
DATA = ["--corpus", "corpus.tsv", "--queries", "queries.tsv", "--qrels", "qrels.txt"]


@pytest.fixture
def folder(tmp_path, monkeypatch):
    for name, text in {"corpus.tsv": CORPUS, "queries.tsv": QUERIES, "qrels.txt": QRELS, "run.trec": RUN,
                       "scores.tsv": SCORES, "held_out.txt": "q2\nq4\n"}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _tasb(*argv: str) -> None:
    result = CliRunner().invoke(app, list(argv))
    assert result.exit_code == 0, result.output


def test_the_score_file_holds_no_pair_of_a_held_out_query(folder):
    _tasb("teacher", "score", "--scorer", "bm25", "--run", "run.trec", *DATA, "--out", "all.tsv")
    _tasb("teacher", "score", "--scorer", "bm25", "--run", "run.trec", *DATA, "--validation-qids", "held_out.txt", "--out", "kept.tsv")

    assert {row.qid for row in read_scores(folder / "all.tsv")} == {"q1", "q2", "q3", "q4"}
    kept = read_scores(folder / "kept.tsv")
    assert {row.qid for row in kept} == {"q1", "q3"}
    assert kept == [row for row in read_scores(folder / "all.tsv") if row.qid in {"q1", "q3"}]


def test_a_cross_encoder_teacher_learns_from_no_held_out_query(folder, monkeypatch):
    seen = {}

    def trainer(recipe, queries, corpus, qrels, candidates, out):
        seen.update(queries=queries, qrels=qrels)
        (out / "model").mkdir(parents=True)

    monkeypatch.setattr(tasb.training.cross_encoder_trainer, "train_cross_encoder", trainer)
    _tasb("teacher", "train", "--run", "run.trec", *DATA, "--validation-qids", "held_out.txt", "--out", "teacher")

    assert set(seen["queries"]) == set(seen["qrels"]) == {"q1", "q3"}


def test_a_colbert_teacher_learns_from_no_held_out_query_nor_its_scored_pairs(folder, monkeypatch):
    seen = {}

    def trainer(recipe, queries, corpus, out, qrels, run, scores):
        seen.update(queries=queries, qrels=qrels, scores=scores)
        (out / "model").mkdir(parents=True)

    monkeypatch.setattr(tasb.training.colbert_trainer, "train_colbert", trainer)
    _tasb("teacher", "train-colbert", "--run", "run.trec", *DATA, "--validation-qids", "held_out.txt", "--out", "colbert",
          "--set", "loss=both", "--set", "teacher_scores=scores.tsv")

    assert set(seen["queries"]) == set(seen["qrels"]) == {"q1", "q3"}
    assert {row.qid for row in seen["scores"]} == {"q1", "q3"}


def test_a_held_out_id_that_is_no_judged_query_is_refused_with_its_line(folder):
    (folder / "held_out.txt").write_text("q2\nq9\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["teacher", "score", "--scorer", "bm25", "--run", "run.trec", *DATA,
                                      "--validation-qids", "held_out.txt", "--out", "kept.tsv"])

    assert result.exit_code == 2
    assert result.output.startswith("error: held_out.txt:2: expected a training query id with a passage judged 1 or higher, got 'q9'")
    assert not (folder / "kept.tsv").exists()
