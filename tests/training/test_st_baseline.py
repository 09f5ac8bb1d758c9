"""The sentence-transformers baseline: the library's own trainer and loss, on the student's triples and budget."""

import dataclasses
import json

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer
from test_trainer import _config, _synthetic

from tasb.models.student import BertDot
from tasb.training.st_baseline import train_sentence_transformers, triples


def _judged():
    dataset, scores = _synthetic()
    return dataclasses.replace(dataset, qrels={f"q{i}": {f"p{i}": 1} for i in range(20)}), scores


def test_triples_are_judged_pairs_once_each_without_held_out_queries():
    dataset, scores = _judged()
    dataset.qrels["q3"] = {}  # q3's positive is not judged relevant: its pairs teach no label
    columns = triples(scores + scores[:4], dataset, exclude={"q5"})
    assert len(columns["anchor"]) == 2 * 20 - 2 - 2
    assert dataset.queries["q5"] not in columns["anchor"] and dataset.queries["q3"] not in columns["anchor"]
    first = columns["anchor"].index(dataset.queries["q0"])
    assert (columns["positive"][first], columns["negative"][first]) == (dataset.corpus["p0"], dataset.corpus["p0-n1"])


@pytest.mark.slow
def test_baseline_trains_with_sentence_transformers_and_saves_a_student_folder(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    config = _config(tmp_path, tiny_bert_dir, "unused", steps=4, batch_size=4)
    folder = train_sentence_transformers(config, dataset, scores, tmp_path / "st")

    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["steps"] == 4 and metrics["stopped_by"] == "steps" and metrics["triples"] == 40
    assert (folder / "DONE").exists() and not (folder / ".hf-trainer").exists()
    student = BertDot.load(str(folder / "model"))
    assert (student.query_max_length, student.passage_max_length) == (12, 16)
    # the weights moved, and the folder loads in sentence-transformers unchanged with the same vectors
    initial = BertDot.load(str(tiny_bert_dir), query_max_length=12, passage_max_length=16)
    texts = [dataset.corpus["p0"], dataset.corpus["p1"]]
    assert not np.allclose(initial.encode_passages(texts), student.encode_passages(texts))
    plain = SentenceTransformer(str(folder / "model")).encode(texts)
    np.testing.assert_allclose(plain, student.encode_passages(texts), atol=1e-5)


@pytest.mark.slow
def test_baseline_stops_at_its_time_budget(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    config = _config(tmp_path, tiny_bert_dir, "unused", steps=10_000, max_minutes=0.001, batch_size=4)
    folder = train_sentence_transformers(config, dataset, scores, tmp_path / "st")
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["stopped_by"] == "time" and 1 <= metrics["steps"] < 10


@pytest.mark.slow
def test_snapshots_every_n_steps_carry_their_step_and_training_seconds(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    config = _config(tmp_path, tiny_bert_dir, "unused", steps=4, batch_size=4)
    folder = train_sentence_transformers(config, dataset, scores, tmp_path / "st", snapshot_every=2)
    snapshots = sorted(p.name for p in (folder / "checkpoints").iterdir())
    assert snapshots == ["step-2", "step-4"]
    states = [json.loads((folder / "checkpoints" / name / "state.json").read_text())["progress"] for name in snapshots]
    assert [s["step"] for s in states] == [2, 4] and 0 < states[0]["elapsed_s"] <= states[1]["elapsed_s"]
    # the last snapshot is the saved model
    last = BertDot.load(str(folder / "checkpoints" / "step-4" / "model")).encode_passages([dataset.corpus["p0"]])
    np.testing.assert_allclose(last, BertDot.load(str(folder / "model")).encode_passages([dataset.corpus["p0"]]), atol=1e-6)


@pytest.mark.slow
def test_a_snapshot_interrupted_while_saving_leaves_no_step_folder(tmp_path, tiny_bert_dir, monkeypatch):
    import tasb.training.st_baseline
    from tasb.layout import checkpoints

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(tasb.training.st_baseline, "write_json", killed)  # the model is saved, its state is not
    dataset, scores = _judged()
    config = _config(tmp_path, tiny_bert_dir, "unused", steps=4, batch_size=4)
    with pytest.raises(KeyboardInterrupt):
        train_sentence_transformers(config, dataset, scores, tmp_path / "st", snapshot_every=2)
    assert checkpoints(tmp_path / "st") == []
