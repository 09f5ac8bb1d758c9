"""``tasb experiment`` on a synthetic BEIR folder with tiny models: the grid, its folders, resuming it."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tasb.apps import experiment as experiment_module
from tasb.cli import app
from tasb.apps.experiment import ExperimentConfig, GridConfig, grid_runs, run_experiment
from tasb.config import StudentConfig, TrainConfig, ValidationConfig, load_config
from tasb.data import read_qrels, read_run, write_scores
from tasb.data.records import ScoredPair
from tasb.errors import InputError
from tasb.evaluation import evaluate
from tasb.models.colbert import ColBERT

TOPICS = ["cat", "river", "engine", "violin", "comet", "bread", "glacier", "tennis", "copper", "orchid"]
FILLER = ["the", "a", "of", "and", "with", "under", "over", "near", "some", "many", "old", "new"]


def _beir_folder(folder: Path) -> tuple[Path, list[ScoredPair]]:
    """20 train and 6 test queries, each with its own passage and two distractors; teacher pairs for the train ones."""
    rng = random.Random(0)
    (folder / "qrels").mkdir(parents=True)
    docs, queries, rows = [], [], []
    qrels = {"train": [], "test": []}
    for split, prefix, count in (("train", "q", 20), ("test", "t", 6)):
        for q in range(count):
            topic = TOPICS[q % len(TOPICS)]
            qid = f"{prefix}{q}"
            queries.append({"_id": qid, "text": f"what about the {topic} number {q}"})
            docs.append({"_id": f"{qid}-p", "title": "", "text": f"the {topic} number {q} " + " ".join(rng.choices(FILLER, k=6))})
            qrels[split].append(f"{qid}\t{qid}-p\t1")
            for k in (1, 2):
                docs.append({"_id": f"{qid}-n{k}", "title": "", "text": " ".join(rng.choices(FILLER, k=8)) + f" {TOPICS[(q + k) % 10]}"})
                if split == "train":
                    rows.append(ScoredPair(round(rng.uniform(4, 6), 2), round(rng.uniform(-1, 1), 2), qid, f"{qid}-p", f"{qid}-n{k}"))
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in docs))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    for split, lines in qrels.items():
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "\n".join(lines) + "\n")
    return folder, rows


@pytest.fixture
def setup(tmp_path, tiny_bert_dir):
    data, rows = _beir_folder(tmp_path / "data")
    write_scores(rows, tmp_path / "scores.tsv")
    (tmp_path / "clusters.tsv").write_text("".join(f"q{q}\t{q % 2}\n" for q in range(20)))
    ColBERT.load(str(tiny_bert_dir), dim=16, query_max_length=12, passage_max_length=16).save(tmp_path / "colbert")
    train = TrainConfig(
        teacher_scores=str(tmp_path / "scores.tsv"),
        student=StudentConfig(model=str(tiny_bert_dir), query_max_length=12, passage_max_length=16),
        clusters=str(tmp_path / "clusters.tsv"),
        colbert_teacher=str(tmp_path / "colbert"),
        batch_size=4,
        steps=4,
        checkpoint_every=2,
        log_every=2,
        learning_rate=1e-4,
        sampler_process=False,
        bf16=False,
        validation=ValidationConfig(queries=4, every=2, patience=3, rerank_depth=5),
    )
    train.data.data = str(data)
    return ExperimentConfig(
        output_dir=str(tmp_path / "exp"),
        train=train,
        grids=[
            GridConfig(sampler=["random", "tas-balanced"], teacher_mode=["pairwise", "dual"], seed=[1]),
            GridConfig(sampler=["tas-balanced"], teacher_mode=["dual"], seed=[1, 2]),
        ],
        compare_to=["bm25", "initial"],
        k=10,
    )


def test_grid_is_the_union_of_its_blocks_with_one_pairwise_run_per_sampler_and_seed(setup):
    setup.grids = [GridConfig(sampler=["random"], teacher_mode=["pairwise", "dual"], inbatch_loss=["margin-mse", "kldiv"], seed=[1])]
    runs = grid_runs(setup)
    assert list(runs) == ["random.pairwise.seed1", "random.dual.margin-mse.seed1", "random.dual.kldiv.seed1"]
    assert runs["random.dual.kldiv.seed1"].inbatch_loss == "kldiv"
    assert runs["random.dual.kldiv.seed1"].output_dir == str(Path(setup.output_dir) / "runs" / "random.dual.kldiv.seed1")


def test_experiment_config_loads_from_yaml_with_a_list_of_grid_blocks(tmp_path):
    path = tmp_path / "exp.yaml"
    path.write_text("grids:\n  - sampler: [tas]\n    seed: [1, 2]\ntrain:\n  batch_size: 8\n  validation: {queries: 50}\n")
    config = load_config(ExperimentConfig, path)
    assert config.grids == [GridConfig(sampler=["tas"], seed=[1, 2])]
    assert (config.train.batch_size, config.train.validation.queries, config.train.learning_rate) == (8, 50, 7e-6)
    path.write_text("grids:\n  sampler: tas\n")
    with pytest.raises(InputError, match="grids to be a list"):
        load_config(ExperimentConfig, path)
    path.write_text("grids:\n  - sampler: [tas, shuffled]\n")
    with pytest.raises(InputError, match=r"grids\[0\].sampler\[1\] to be one of random, tas, tas-balanced"):
        load_config(ExperimentConfig, path)


def test_compare_to_must_name_a_row_of_the_experiment(setup):
    setup.compare_to = ["bm25", "teacher"]
    with pytest.raises(InputError, match="compare_to"):
        run_experiment(setup)


@pytest.mark.slow
def test_every_run_and_baseline_is_evaluated_with_per_query_scores(setup):
    folder = run_experiment(setup)

    qrels = read_qrels(folder / "test.qrels")
    assert set(qrels) == {f"t{q}" for q in range(6)}
    runs = sorted(p.name for p in (folder / "runs").iterdir())
    assert runs == sorted(
        ["random.pairwise.seed1", "random.dual.margin-mse.seed1", "tas-balanced.pairwise.seed1",
         "tas-balanced.dual.margin-mse.seed1", "tas-balanced.dual.margin-mse.seed2"]
    )
    held_out = (folder / "validation_qids.txt").read_text().split()
    assert len(held_out) == 4
    baselines = [folder / "baselines" / name for name in ("bm25", "initial", "sentence-transformers")]
    for system in [*baselines, *(folder / "runs").iterdir()]:
        assert (system / "EVALUATED").exists(), system
        metrics = json.loads((system / "test_metrics.json").read_text())
        assert metrics == pytest.approx(evaluate(read_run(system / "test.trec"), qrels, measures=list(metrics)))
        per_query = json.loads((system / "per_query.json").read_text())
        assert set(per_query) == set(setup.measures) and set(per_query["nDCG@10"]) <= set(qrels)
    run = folder / "runs" / "tas-balanced.dual.margin-mse.seed2"
    system = json.loads((run / "system.json").read_text())
    assert (system["kind"], system["sampler"], system["teacher_mode"], system["seed"]) == ("student", "tas-balanced", "dual", 2)
    assert not (run / "checkpoints").exists() and (run / "model").is_dir()
    assert [json.loads(line)["step"] for line in (run / "validation.jsonl").read_text().splitlines()] == [0, 2, 4]
    assert json.loads((folder / "baselines" / "bm25" / "system.json").read_text())["compare"] is True
    # sentence-transformers' recipe trained on the grid's triples with its budget, never on the held-out queries
    st_system = json.loads((folder / "baselines" / "sentence-transformers" / "system.json").read_text())
    assert (st_system["key"], st_system["kind"]) == ("S", "baseline")
    st_metrics = json.loads((folder / "baselines" / "sentence-transformers" / "metrics.json").read_text())
    assert st_metrics["steps"] == setup.train.steps

    result = CliRunner().invoke(app, ["report", str(folder)])
    assert result.exit_code == 0, result.output
    report = (folder / "report.md").read_text()
    assert "Table 4 shape" in report and "Seeds: tas-balanced · dual · margin-mse" in report
    assert (folder / "figures" / "exp-validation.png").stat().st_size > 0


@pytest.mark.slow
def test_rerunning_an_interrupted_grid_trains_only_what_is_missing(setup, monkeypatch):
    trained = []
    real = experiment_module._train_and_evaluate

    def crash_on_third(experiment, run):
        if len(trained) == 2:
            raise KeyboardInterrupt
        trained.append(Path(run.output_dir).name)
        real(experiment, run)

    monkeypatch.setattr(experiment_module, "_train_and_evaluate", crash_on_third)
    with pytest.raises(KeyboardInterrupt):
        run_experiment(setup)
    first = {name: (Path(setup.output_dir) / "runs" / name / "EVALUATED").stat().st_mtime_ns for name in trained}

    resumed = []
    monkeypatch.setattr(experiment_module, "_train_and_evaluate", lambda e, run: (resumed.append(Path(run.output_dir).name), real(e, run)))
    run_experiment(setup)

    assert set(resumed) == set(grid_runs(setup)) - set(trained) and len(resumed) == 3
    for name, mtime in first.items():
        assert (Path(setup.output_dir) / "runs" / name / "EVALUATED").stat().st_mtime_ns == mtime
    resumed.clear()
    run_experiment(setup)
    assert resumed == []


@pytest.mark.slow
def test_a_reference_run_missing_test_queries_is_refused(setup, tmp_path):
    reference = tmp_path / "partial.trec"
    reference.write_text("t0 Q0 t0-p 1 2.0 ref\n")
    setup.references = {"partial": str(reference)}
    setup.grids = [GridConfig(sampler=["random"], teacher_mode=["pairwise"], seed=[1])]
    setup.train.steps = 1
    with pytest.raises(InputError, match="a ranking for every test query") as caught:
        run_experiment(setup)
    assert caught.value.path == str(reference)


@pytest.mark.slow
def test_baseline_keys_and_comparisons_follow_the_current_config(setup):
    setup.grids = [GridConfig(sampler=["random"], teacher_mode=["pairwise"], seed=[1])]
    setup.train.steps = 2
    folder = run_experiment(setup)
    setup.compare_to = ["initial"]
    run_experiment(setup)
    systems = {name: json.loads((folder / "baselines" / name / "system.json").read_text()) for name in ("bm25", "initial")}
    assert {name: (s["key"], s["compare"]) for name, s in systems.items()} == {"bm25": ("B", False), "initial": ("I", True)}
