import json
import random

import numpy as np
import pytest
import torch

from tasb.config import StudentConfig, TrainConfig
from tasb.data.records import Dataset, ScoredPair
from tasb.errors import InputError
from tasb.models.student import BertDot
from tasb.training.trainer import train

TOPICS = ["cat", "river", "engine", "violin", "comet", "bread", "glacier", "tennis", "copper", "orchid"]
FILLER = ["the", "a", "of", "and", "with", "under", "over", "near", "some", "many", "old", "new"]


def _synthetic(num_queries: int = 20) -> tuple[Dataset, list[ScoredPair]]:
    """20 queries, 60 passages: each query's own passage scores high, two other passages low."""
    rng = random.Random(0)
    queries, corpus, rows = {}, {}, []
    for q in range(num_queries):
        topic = TOPICS[q % len(TOPICS)]
        queries[f"q{q}"] = f"what about the {topic} number {q}"
        corpus[f"p{q}"] = f"the {topic} number {q} " + " ".join(rng.choices(FILLER, k=6))
        for k in (1, 2):
            corpus[f"p{q}-n{k}"] = " ".join(rng.choices(FILLER, k=8)) + f" {TOPICS[(q + k) % len(TOPICS)]}"
    for q in range(num_queries):
        for k in (1, 2):
            pos, neg = round(rng.uniform(4, 6), 2), round(rng.uniform(-1, 1), 2)
            rows.append(ScoredPair(pos, neg, f"q{q}", f"p{q}", f"p{q}-n{k}"))
    return Dataset(corpus=corpus, queries=queries, qrels={}, source="synthetic"), rows


def _write_synthetic(root) -> tuple[str, str]:
    """The synthetic problem as files `tasb train` reads: a BEIR folder and a teacher score file."""
    from tasb.data.writers import write_scores

    dataset, scores = _synthetic()
    data = root / "data"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in dataset.corpus.items()))
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in dataset.queries.items()))
    (data / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\tp{i}\t1\n" for i in range(20)))
    write_scores(scores, root / "scores.tsv")
    return str(data), str(root / "scores.tsv")


def _config(tmp_path, tiny_bert_dir, name: str, **overrides) -> TrainConfig:
    values = dict(
        output_dir=str(tmp_path / name),
        teacher_scores=str(tmp_path / "scores.tsv"),
        student=StudentConfig(model=str(tiny_bert_dir), query_max_length=12, passage_max_length=16),
        batch_size=4,
        steps=6,
        learning_rate=1e-4,
        checkpoint_every=3,
        keep_checkpoints=2,
        log_every=2,
        bf16=False,
        seed=1,
    )
    return TrainConfig(**{**values, **overrides})


def _log(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_run_folder_holds_config_log_checkpoints_model_metrics_and_done(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    student = BertDot.load(str(tiny_bert_dir), query_max_length=12, passage_max_length=16)
    folder = train(_config(tmp_path, tiny_bert_dir, "run", checkpoint_every=2), dataset, scores, student=student)

    assert folder == tmp_path / "run"
    assert "checkpoint_every: 2" in (folder / "config.yaml").read_text()
    assert [line["step"] for line in _log(folder)] == [2, 4, 6]
    assert set(_log(folder)[0]) == {"step", "loss", "loss_pair", "lr", "steps_per_s", "elapsed_s", "sampler_wait_s"}
    assert sorted(p.name for p in (folder / "checkpoints").iterdir()) == ["step-4", "step-6"]
    for name in ("model", "trainer_state.pt", "state.json"):
        assert (folder / "checkpoints" / "step-6" / name).exists()
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["steps"] == 6 and metrics["stopped_by"] == "steps"
    assert metrics["final_loss"] == pytest.approx(_log(folder)[-1]["loss"])
    assert (folder / "DONE").read_text() == ""

    texts = list(dataset.corpus.values())[:5]
    reloaded = BertDot.load(str(folder / "model"))
    np.testing.assert_array_equal(reloaded.encode_passages(texts), student.encode_passages(texts))


@pytest.mark.slow
def test_loss_decreases_on_a_fixed_problem(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    config = _config(tmp_path, tiny_bert_dir, "run", steps=30, learning_rate=1e-3, log_every=1, checkpoint_every=30)
    # a random tiny BERT's CLS vector barely depends on its input at first: mean pooling learns within 30 steps
    config.student.pooling = "mean"
    losses = [line["loss"] for line in _log(train(config, dataset, scores))]
    assert len(losses) == 30
    assert np.mean(losses[-5:]) < 0.5 * np.mean(losses[:5])


@pytest.mark.slow
def test_resumed_run_ends_with_the_same_weights_as_an_uninterrupted_one(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    whole = train(_config(tmp_path, tiny_bert_dir, "whole", steps=6), dataset, scores)

    train(_config(tmp_path, tiny_bert_dir, "split", steps=3), dataset, scores)
    split = train(_config(tmp_path, tiny_bert_dir, "split", steps=6), dataset, scores, resume=True)

    expected = BertDot.load(str(whole / "model")).encoder.state_dict()
    got = BertDot.load(str(split / "model")).encoder.state_dict()
    assert expected.keys() == got.keys()
    for name in expected:
        assert torch.equal(expected[name], got[name]), name
    assert [line["loss"] for line in _log(split)] == [line["loss"] for line in _log(whole)]
    assert json.loads((split / "metrics.json").read_text())["steps"] == 6


def test_score_file_naming_an_unknown_passage_is_refused(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    scores[5] = scores[5]._replace(pid_neg="no-such-passage")
    config = _config(tmp_path, tiny_bert_dir, "run")
    with pytest.raises(InputError, match="no-such-passage") as caught:
        train(config, dataset, scores)
    assert caught.value.path == config.teacher_scores
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_an_earlier_run_is_not_overwritten_without_resume(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    config = _config(tmp_path, tiny_bert_dir, "run", steps=1)
    train(config, dataset, scores)
    with pytest.raises(InputError, match="resume"):
        train(config, dataset, scores)


@pytest.mark.slow
def test_resuming_a_finished_run_whose_checkpoints_are_gone_keeps_its_model(tmp_path, tiny_bert_dir):
    import shutil

    dataset, scores = _synthetic()
    config = _config(tmp_path, tiny_bert_dir, "run", steps=3)
    folder = train(config, dataset, scores)
    shutil.rmtree(folder / "checkpoints")  # as tasb experiment does once a run is evaluated
    kept = {path: path.read_bytes() for path in [*(folder / "model").rglob("*"), folder / "train_log.jsonl"] if path.is_file()}

    with pytest.raises(InputError, match="finished run"):
        train(config, dataset, scores, resume=True)

    assert {path: path.read_bytes() for path in kept} == kept
    assert (folder / "DONE").exists()


@pytest.mark.slow
def test_a_finished_run_of_no_steps_resumes_into_a_longer_one(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    train(_config(tmp_path, tiny_bert_dir, "run", steps=0), dataset, scores)  # only its start: no checkpoint to keep
    folder = train(_config(tmp_path, tiny_bert_dir, "run", steps=3), dataset, scores, resume=True)
    assert json.loads((folder / "metrics.json").read_text())["steps"] == 3


def test_too_few_queries_for_a_batch_is_refused(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic(num_queries=3)
    with pytest.raises(InputError, match="batch_size=4"):
        train(_config(tmp_path, tiny_bert_dir, "run"), dataset, scores)


@pytest.mark.slow
def test_tas_balanced_run_resumes_the_same_stream_from_its_background_process(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    clusters = tmp_path / "clusters.tsv"
    # two queries per topic: TAS with n = 2 and b = 4 puts exactly two topics in each batch
    clusters.write_text("".join(f"q{q}\t{TOPICS[q % len(TOPICS)]}\n" for q in range(20)))
    settings = dict(sampler="tas-balanced", clusters=str(clusters), clusters_per_batch=2, checkpoint_every=2)
    whole = train(_config(tmp_path, tiny_bert_dir, "whole", steps=4, **settings), dataset, scores)
    train(_config(tmp_path, tiny_bert_dir, "split", steps=2, **settings), dataset, scores)
    split = train(_config(tmp_path, tiny_bert_dir, "split", steps=4, **settings), dataset, scores, resume=True)

    expected = BertDot.load(str(whole / "model")).encoder.state_dict()
    got = BertDot.load(str(split / "model")).encoder.state_dict()
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    assert [line["loss"] for line in _log(split)] == [line["loss"] for line in _log(whole)]
    assert all(line["sampler_wait_s"] >= 0 for line in _log(whole))


def test_tas_without_a_clusters_file_is_refused(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    with pytest.raises(InputError, match="clusters"):
        train(_config(tmp_path, tiny_bert_dir, "run", sampler="tas"), dataset, scores)


@pytest.mark.slow
def test_a_checkpoint_the_disk_cannot_hold_is_an_os_error_and_leaves_no_checkpoint(tmp_path, tiny_bert_dir, monkeypatch):
    import tasb.training.trainer as trainer_module

    def full_disk(state, path):
        raise RuntimeError("[enforce fail at inline_container.cc:626] . PytorchStreamWriter failed writing file data/0: file write failed")

    monkeypatch.setattr(trainer_module.torch, "save", full_disk)
    dataset, scores = _synthetic()
    with pytest.raises(OSError, match="could not write the checkpoint: .*file write failed"):
        train(_config(tmp_path, tiny_bert_dir, "full", steps=3, checkpoint_every=3), dataset, scores)
    assert not (tmp_path / "full" / "checkpoints").exists() or not list((tmp_path / "full" / "checkpoints").iterdir())


@pytest.mark.slow
def test_shorter_training_passages_train_as_a_student_of_that_length_and_save_the_models_own(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    cut = _config(tmp_path, tiny_bert_dir, "cut", score_scale=None)
    cut.student.training_passage_max_length = 6
    short = _config(tmp_path, tiny_bert_dir, "short", score_scale=None)
    short.student.passage_max_length = 6
    cut_folder, short_folder = train(cut, dataset, scores), train(short, dataset, scores)

    # the same steps on the same 6-token passages, the score scale fitted on them too
    cut_metrics, short_metrics = (json.loads((f / "metrics.json").read_text()) for f in (cut_folder, short_folder))
    assert cut_metrics["score_scale"] == pytest.approx(short_metrics["score_scale"], rel=1e-6)
    short_weights = BertDot.load(str(short_folder / "model")).encoder.state_dict()
    for name, tensor in BertDot.load(str(cut_folder / "model")).encoder.state_dict().items():
        torch.testing.assert_close(tensor, short_weights[name])
    # but the model keeps its own length for validation, the index and sentence-transformers
    assert BertDot.load(str(cut_folder / "model")).passage_max_length == 16
    assert BertDot.load(str(short_folder / "model")).passage_max_length == 6
