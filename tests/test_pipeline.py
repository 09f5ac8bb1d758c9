"""End to end on a slice of real SciFact with tiny models: the commands users run, in the order they run them."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from sentence_transformers import SentenceTransformer
from typer.testing import CliRunner

from tasb.apps.quickstart import quickstart_entries
from tasb.cli import app
from tasb.data import load_dataset, read_corpus, read_qrels, read_run, read_scores
from tasb.outputs import LOCK

pytestmark = pytest.mark.integration


def _slice(scifact: Path, out: Path, queries_per_split: int = 12, extra_docs: int = 250) -> Path:
    """A BEIR folder with a few train and test queries, their judged docs and some others."""
    (out / "qrels").mkdir(parents=True)
    keep_docs: set[str] = set()
    keep_queries: set[str] = set()
    for split in ("train", "test"):
        lines = (scifact / "qrels" / f"{split}.tsv").read_text().splitlines()
        chosen, rows = [], [lines[0]]
        for line in lines[1:]:
            qid, pid, _ = line.split("\t")
            if qid not in chosen and len(chosen) == queries_per_split:
                continue
            if qid not in chosen:
                chosen.append(qid)
            rows.append(line)
            keep_docs.add(pid)
        keep_queries.update(chosen)
        (out / "qrels" / f"{split}.tsv").write_text("\n".join(rows) + "\n")
    corpus_lines = (scifact / "corpus.jsonl").read_text().splitlines()
    extra = [line for line in corpus_lines if json.loads(line)["_id"] not in keep_docs][:extra_docs]
    kept = [line for line in corpus_lines if json.loads(line)["_id"] in keep_docs]
    (out / "corpus.jsonl").write_text("\n".join(kept + extra) + "\n")
    queries = [line for line in (scifact / "queries.jsonl").read_text().splitlines() if json.loads(line)["_id"] in keep_queries]
    (out / "queries.jsonl").write_text("\n".join(queries) + "\n")
    return out


@pytest.fixture(scope="module")
def mini_scifact(scifact_dir, tmp_path_factory) -> Path:
    return _slice(scifact_dir, tmp_path_factory.mktemp("data") / "scifact-mini")


def _ok(*args: str) -> str:
    result = CliRunner().invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.output + "".join(__import__("traceback").format_exception(*result.exc_info))
    return result.output


@pytest.mark.slow
def test_commands_chain_from_bm25_to_evaluation(mini_scifact, tiny_bert_dir, tmp_path):
    data = ["--data", mini_scifact]
    _ok("bm25", *data, "--split", "train", "--k", 50, "--out", tmp_path / "bm25.train.trec")
    _ok("bm25", *data, "--split", "test", "--out", tmp_path / "bm25.test.trec")
    _ok("teacher", "train", *data, "--out", tmp_path / "teacher", "--run", tmp_path / "bm25.train.trec",
        "--set", f"model={tiny_bert_dir}", "--set", "steps=2", "--set", "batch_size=2", "--set", "num_negatives=3")
    _ok("teacher", "score", *data, "--scorer", tmp_path / "teacher" / "model", "--scorer", "bm25",
        "--run", tmp_path / "bm25.train.trec", "--negatives-depth", 10, "--negatives-per-query", 3, "--out", tmp_path / "scores.tsv")
    scores = read_scores(tmp_path / "scores.tsv")
    assert len({s.qid for s in scores}) == 12 and all(len({r.pid_neg for r in scores if r.qid == s.qid}) <= 3 for s in scores)

    config = tmp_path / "train.yaml"
    config.write_text(
        f"output_dir: {tmp_path / 'run'}\nteacher_scores: {tmp_path / 'scores.tsv'}\n"
        f"data: {{data: {mini_scifact}, split: train}}\nstudent: {{model: {tiny_bert_dir}, pooling: cls}}\n"
        "batch_size: 4\nsteps: 3\ncheckpoint_every: 2\nbf16: false\n"
    )
    _ok("train", config, "--set", "learning_rate=1e-4")
    model_dir = tmp_path / "run" / "model"
    assert (tmp_path / "run" / "DONE").exists()

    _ok("index", *data, "--model", model_dir, "--no-bf16", "--out", tmp_path / "index")
    _ok("search", "--index", tmp_path / "index", *data, "--split", "test", "--k", 100, "--out", tmp_path / "dense.trec")
    run = read_run(tmp_path / "dense.trec")
    assert set(run) == set(read_qrels(mini_scifact / "qrels" / "test.tsv"))
    assert all(len(ranking) == 100 for ranking in run.values())

    metrics = json.loads(_ok("evaluate", "--run", tmp_path / "bm25.test.trec", "--qrels", mini_scifact / "qrels" / "test.tsv", "--json"))
    assert set(metrics) == {"nDCG@10", "RR@10", "R@100", "R@1000"}
    assert metrics["nDCG@10"] > 0.5  # BM25 on a small corpus finds most of SciFact's relevant abstracts

    # the trained student is a plain sentence-transformers folder giving the vectors the index holds
    corpus = read_corpus(mini_scifact / "corpus.jsonl")
    ids = (tmp_path / "index" / "ids.txt").read_text().split()
    embeddings = np.load(tmp_path / "index" / "embeddings.npy")
    st_vectors = SentenceTransformer(str(model_dir)).encode([corpus[p] for p in ids[:5]])
    np.testing.assert_allclose(st_vectors, embeddings[:5], atol=1e-5)


@pytest.mark.slow
def test_search_refuses_an_index_built_by_another_model(mini_scifact, tiny_bert_dir, tmp_path):
    _ok("index", "--data", mini_scifact, "--model", tiny_bert_dir, "--no-bf16", "--out", tmp_path / "index")
    result = CliRunner().invoke(app, ["search", "--index", str(tmp_path / "index"), "--data", str(mini_scifact),
                                      "--model", "all-MiniLM-L6-v2", "--out", str(tmp_path / "run.trec")])
    assert result.exit_code == 2 and "error:" in result.output
    assert not (tmp_path / "run.trec").exists()


def test_bad_input_exits_2_with_file_and_line(tmp_path):
    qrels = tmp_path / "qrels.txt"
    qrels.write_text("1 0 5 1\n1 0 6 high\n")
    run = tmp_path / "run.trec"
    run.write_text("1 Q0 5 1 2.0 t\n")
    result = CliRunner().invoke(app, ["evaluate", "--run", str(run), "--qrels", str(qrels)])
    assert result.exit_code == 2
    assert f"{qrels}:2: expected an integer relevance grade" in result.output


@pytest.mark.slow
def test_quickstart_leaves_a_complete_run_folder_and_reruns_over_it(mini_scifact, tiny_bert_dir, tmp_path):
    out = tmp_path / "qs"
    settings = ["--data", mini_scifact, "--set", f"output_dir={out}",
                "--set", f"student.model={tiny_bert_dir}", "--set", f"colbert.model={tiny_bert_dir}",
                "--set", f"cross_encoder.model={tiny_bert_dir}", "--set", "colbert.steps=2", "--set", "colbert.batch_size=2",
                "--set", "cross_encoder.steps=2", "--set", "cross_encoder.batch_size=2", "--set", "train_steps=5",
                "--set", "batch_size=4", "--set", "teacher_rerank_depth=10", "--set", "negatives_per_query=2"]
    # the first run teaches pairwise only from BM25 + a cross-encoder: no ColBERT is trained
    # and no sentence-transformers baseline, neither as a row nor as a teacher; no query is held out
    _ok("quickstart", *settings, "--set", "teacher_mode=pairwise", "--set", "teacher_ensemble.colbert=0",
        "--set", "teacher_ensemble.cross-encoder=1", "--set", "teacher_ensemble.baseline=0", "--set", "baseline=false",
        "--set", "student_start=initial", "--set", "negatives_from=initial-student", "--set", "validation_queries=0")
    assert json.loads((out / "metrics.json").read_text())["held_out"] == {}
    pairwise = json.loads((out / "metrics.json").read_text())["results"]
    assert "teacher: cross-encoder alone" in pairwise and not (out / "colbert").exists()
    assert not (out / "baseline").exists() and not any("sentence-transformers" in row for row in pairwise)
    # the second, over the first one's folder: the default ColBERT + BM25 teacher, dual supervision, and (by default)
    # the student's negatives mined by the trained baseline
    _ok("quickstart", *settings, "--set", "teacher_mode=dual", "--set", "negatives_depth=3")
    for name in ("DONE", "results.md", "metrics.json", "config.yaml", "teacher_scores.tsv", "bm25.test.trec",
                 "teacher.test.trec", "student.test.trec", "student/model/modules.json", "colbert/model/tasb.json"):
        assert (out / name).exists(), name
    # a rerun sets aside every name the quickstart wrote, and only those: anything else there is the user's
    assert {path.name for path in out.iterdir()} - {LOCK} <= quickstart_entries()
    # the student's index remembers its model: search needs no --model
    _ok("search", "--index", out / "index-student", "--data", mini_scifact, "--out", tmp_path / "again.trec")
    assert read_run(tmp_path / "again.trec") == read_run(out / "student.test.trec")
    rows = json.loads((out / "metrics.json").read_text())["results"]
    # by default the student starts from whichever of the initial model and the trained baseline validates higher
    # on the held-out queries: the student handed back never validates below either
    # (scored from their indexes; tests/test_quickstart_start.py checks that against the trainer's own validation)
    starts = {name: json.loads((out / "metrics.json").read_text())["held_out"][name] for name in ("initial", "baseline")}
    start = "initial" if starts["initial"] > starts["baseline"] else "baseline"
    baseline_row = "sentence-transformers MNRL (" + ("the student's start, " if start == "baseline" else "") + "same budget)"
    assert list(rows)[0] == "BM25" and "teacher: colbert alone" in rows and any(r.startswith("teacher: ensemble") for r in rows)
    assert any("in-batch margin-mse" in r for r in rows)
    assert rows["BM25"]["nDCG@10"] > 0.5
    log = [json.loads(line) for line in (out / "student" / "train_log.jsonl").read_text().splitlines()]
    assert log and all({"loss_pair", "loss_inbatch"} <= set(line) for line in log)
    # sentence-transformers' recipe with the same budget is a row of the table named for what it shares with the
    # student (by default the student starts from it and trains on its negatives) and, trained first, a teacher
    assert rows[baseline_row]["nDCG@10"] >= 0
    # the teacher's weights are fitted on the held-out queries over every member the quickstart has, the initial
    # student among them, and kept as set unless choosing the best beats them on queries that did not choose it; the
    # row is named for them
    summary = json.loads((out / "metrics.json").read_text())
    weights, fit = summary["teacher_weights"], summary["teacher_fit"]
    assert set(fit["best"]) <= {"colbert", "bm25", "baseline", "bi-encoder"} and max(fit["best"].values()) == 1
    assert weights == (fit["best"] if fit["p"] < 0.05 and fit["cross_validated"] > fit["prior_value"] else fit["prior"])
    assert "teacher: ensemble " + " + ".join(f"{w:g}×{name}" for name, w in weights.items()) in rows
    assert ("weights fitted on the held-out queries" if weights != fit["prior"] else "weights as set") in (out / "results.md").read_text()
    assert list(rows).index(baseline_row) < list(rows).index("teacher: colbert alone")
    assert json.loads((out / "baseline" / "metrics.json").read_text())["steps"] == 5
    # each trained model's card carries what the quickstart measured of it
    for card in ("student/model", "baseline/model", "colbert/model"):
        text = (out / card / "README.md").read_text()
        assert "nDCG@10" in text and ("full retrieval" in text or "re-ranks BM25 top-10" in text), card
    # a fifth of the 12 judged train queries is held out: validated from step 0, never trained on by teacher or student
    validated = [json.loads(line) for line in (out / "student" / "validation.jsonl").read_text().splitlines()]
    assert validated[0]["step"] == 0 and validated[-1]["step"] == 5
    metrics = json.loads((out / "student" / "metrics.json").read_text())
    assert metrics["best_step"] in (0, 5)
    # its step 0 is the chosen start's validation score
    assert validated[0]["nDCG@10"] == max(starts.values())
    judged_beside = json.loads((out / "metrics.json").read_text())["held_out"]
    # the teacher is judged beside that start on the same held-out candidates, so a user sees whether it can teach more
    assert judged_beside["student start"] == pytest.approx(validated[0]["nDCG@10"], abs=1e-6)
    assert judged_beside["queries"] == 2 and 0 <= judged_beside["teacher"] <= 1
    assert f"held-out queries {judged_beside['teacher']:.3f}" in (out / "results.md").read_text()
    # the student's config names where it started
    started = yaml.safe_load((out / "student" / "config.yaml").read_text())["student"]["model"]
    assert Path(started).resolve() == Path(tiny_bert_dir if start == "initial" else out / "baseline" / "model").resolve()
    _ok("search", "--index", out / "index-baseline", "--data", mini_scifact, "--split", "train", "--k", 3,
        "--out", tmp_path / "baseline.train.trec")
    baseline_top = read_run(tmp_path / "baseline.train.trec")
    assert all(row.pid_neg in baseline_top[row.qid] for row in read_scores(out / "teacher_scores.tsv"))
    taught = {row.qid for row in read_scores(out / "teacher_scores.tsv")}
    judged = set(read_qrels(mini_scifact / "qrels" / "train.tsv"))
    assert len(judged - taught) == 2
    assert set((out / "validation_qids.txt").read_text().split()) == judged - taught


@pytest.mark.slow
def test_a_baseline_that_validates_below_the_initial_model_is_not_the_students_start(
    mini_scifact, tiny_bert_dir, tmp_path, monkeypatch
):
    out = tmp_path / "qs"
    # the held-out queries judge the baseline below the initial model, as on TREC-DL's pool (docs/student.md)
    monkeypatch.setattr("tasb.apps.quickstart.choose_start", lambda *args: ("initial", {"initial": 0.9, "baseline": 0.1}))
    _ok("quickstart", "--data", mini_scifact, "--set", f"output_dir={out}", "--set", f"student.model={tiny_bert_dir}",
        "--set", "teacher_mode=pairwise", "--set", "teacher_ensemble.colbert=0", "--set", "teacher_ensemble.baseline=0",
        "--set", "teacher_ensemble.bm25=1", "--set", "train_steps=2", "--set", "batch_size=4", "--set", "negatives_depth=3",
        "--set", "teacher_rerank_depth=10", "--set", "negatives_per_query=2")
    # the student starts from the initial model and trains on its near misses, the baseline's own triples
    started = yaml.safe_load((out / "student" / "config.yaml").read_text())["student"]["model"]
    assert Path(started).resolve() == Path(tiny_bert_dir).resolve()
    _ok("search", "--index", out / "index-initial", "--data", mini_scifact, "--split", "train", "--k", 3,
        "--out", tmp_path / "initial.train.trec")
    initial_top = read_run(tmp_path / "initial.train.trec")
    assert all(row.pid_neg in initial_top[row.qid] for row in read_scores(out / "teacher_scores.tsv"))
    rows = json.loads((out / "metrics.json").read_text())["results"]
    assert "sentence-transformers MNRL (same triples, same budget)" in rows
    student_row = next(row for row in rows if row.startswith("trained student"))
    assert "from the baseline" not in student_row
    assert "start chosen on the held-out queries: initial 0.900, baseline 0.100" in (out / "results.md").read_text()
    held_out = json.loads((out / "metrics.json").read_text())["held_out"]
    # the chosen start's score is the student's step 0
    assert (held_out["initial"], held_out["baseline"], held_out["student start"]) == (0.9, 0.1, 0.9)


def _file_bytes(folder: Path) -> dict[Path, bytes]:
    return {path.relative_to(folder): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


@pytest.mark.slow
def test_a_quickstart_rerun_that_fails_keeps_the_finished_run(mini_scifact, tiny_bert_dir, tmp_path, monkeypatch):
    out = tmp_path / "qs"
    # the cheapest quickstart: BM25 teaches, no ColBERT, no baseline, no held-out queries
    settings = ["--data", mini_scifact, "--set", f"output_dir={out}", "--set", f"student.model={tiny_bert_dir}",
                "--set", "teacher_mode=pairwise", "--set", "teacher_ensemble.colbert=0", "--set", "teacher_ensemble.baseline=0",
                "--set", "teacher_ensemble.bm25=1", "--set", "baseline=false", "--set", "student_start=initial",
                "--set", "negatives_from=bm25", "--set", "validation_queries=0", "--set", "train_steps=2", "--set", "batch_size=4",
                "--set", "teacher_rerank_depth=10", "--set", "negatives_per_query=2", "--set", "bf16=false"]
    _ok("quickstart", *settings)
    finished = _file_bytes(out / "student" / "model")
    results = (out / "results.md").read_text()

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("tasb.training.trainer.train", interrupted)
    assert CliRunner().invoke(app, ["quickstart", *map(str, settings)]).exit_code != 0
    kept = _file_bytes(out / "previous" / "student" / "model")
    assert kept == finished and (out / "previous" / "results.md").read_text() == results
    assert not (out / "DONE").exists() and not (out / "student").exists() and not (out / "results.md").exists()
    # the finished run's index still searches with its model, named where it now is
    _ok("search", "--index", out / "previous" / "index-student", "--model", out / "previous" / "student" / "model",
        "--data", mini_scifact, "--out", tmp_path / "previous.trec")
    assert read_run(tmp_path / "previous.trec") == read_run(out / "previous" / "student.test.trec")
    monkeypatch.undo()
    _ok("quickstart", *settings)
    assert (out / "DONE").exists() and (out / "student" / "model").is_dir() and not (out / "previous").exists()


@pytest.mark.slow
def test_teacher_eval_reports_candidates_and_reranked_and_ensemble_files_merge(mini_scifact, tiny_bert_dir, tmp_path):
    data = ["--data", mini_scifact, "--split", "test"]
    _ok("bm25", *data, "--k", 50, "--out", tmp_path / "bm25.trec")
    output = _ok("teacher", "eval", *data, "--run", tmp_path / "bm25.trec", "--scorer", "bm25", "--rerank-depth", 10,
                 "--out", tmp_path / "reranked.trec")
    rows = {line.split("|")[1].strip(): line for line in output.splitlines() if line.startswith("| ")}
    assert {"candidates", "bm25 re-ranks top-10"} <= set(rows)
    # BM25 re-ranking its own top-10 changes nothing
    assert rows["candidates"].split("|")[2:] == rows["bm25 re-ranks top-10"].split("|")[2:]
    assert set(read_run(tmp_path / "reranked.trec")) == set(read_run(tmp_path / "bm25.trec"))
    # an ensemble is reported with each of its members alone; the file holds the ensemble's ranking
    output = _ok("teacher", "eval", *data, "--run", tmp_path / "bm25.trec", "--scorer", "bm25", "--scorer",
                 f"colbert:{tiny_bert_dir}", "--weight", 1, "--weight", 1e-9, "--rerank-depth", 10, "--out", tmp_path / "ens.trec")
    rows = {line.split("|")[1].strip(): line for line in output.splitlines() if line.startswith("| ")}
    assert {"candidates", "bm25 re-ranks top-10", f"colbert:{tiny_bert_dir} re-ranks top-10", "ensemble re-ranks top-10"} <= set(rows)
    # a ColBERT weighted 1e-9 only breaks ties: the ensemble ranks like BM25
    assert rows["ensemble re-ranks top-10"].split("|")[2:4] == rows["bm25 re-ranks top-10"].split("|")[2:4]

    train = ["--data", mini_scifact, "--split", "train"]
    _ok("bm25", *train, "--k", 20, "--out", tmp_path / "train.trec")
    for name, teacher in (("a.tsv", "bm25"), ("b.tsv", "bm25")):
        _ok("teacher", "score", *train, "--scorer", teacher, "--run", tmp_path / "train.trec", "--negatives-depth", 10,
            "--negatives-per-query", 2, "--out", tmp_path / name)
    _ok("teacher", "ensemble", tmp_path / "a.tsv", tmp_path / "b.tsv", "--weight", 2, "--weight", 1, "--out", tmp_path / "ab.tsv")
    single, merged = read_scores(tmp_path / "a.tsv"), read_scores(tmp_path / "ab.tsv")
    assert [(r.qid, r.pid_pos, r.pid_neg) for r in merged] == [(r.qid, r.pid_pos, r.pid_neg) for r in single]
    assert all((m.margin > 0) == (s.margin > 0) for m, s in zip(merged, single) if s.margin != 0)


@pytest.mark.slow
def test_search_loads_the_model_as_the_index_was_built(mini_scifact, tiny_bert_dir, tmp_path):
    _ok("index", "--data", mini_scifact, "--model", tiny_bert_dir, "--pooling", "mean", "--no-bf16", "--out", tmp_path / "index")
    _ok("search", "--index", tmp_path / "index", "--data", mini_scifact, "--k", 5, "--out", tmp_path / "run.trec")
    assert read_run(tmp_path / "run.trec")


def test_a_run_naming_passages_outside_the_corpus_is_refused(mini_scifact, tmp_path):
    run = tmp_path / "foreign.trec"
    run.write_text("1 Q0 not-a-doc 1 3.0 x\n")
    result = CliRunner().invoke(app, ["teacher", "eval", "--data", str(mini_scifact), "--run", str(run), "--scorer", "bm25"])
    assert result.exit_code == 2 and f"{run}:1: expected passage ids of the corpus" in result.output
