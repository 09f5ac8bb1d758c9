"""Teacher fine-tuning runs both losses, learns, logs every step; pair scoring scores each pair once."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

from tasb.config import TeacherConfig
from tasb.errors import InputError
from tasb.layout import TEACHER_LOG as LOG_FILE
from tasb.models.cross_encoder import BertCat
from tasb.training.cross_encoder_trainer import group_loss, train_cross_encoder

QUERIES = {"q1": "how do bacteria resist antibiotics", "q2": "does coffee raise blood pressure"}
CORPUS = {
    "d1": "Efflux pumps let bacteria expel antibiotics and survive treatment.",
    "d2": "Caffeine intake causes a short rise in blood pressure in most adults.",
    "n1": "The Roman empire expanded across the Mediterranean.",
    "n2": "Volcanic soils are rich in minerals.",
    "n3": "Jazz emerged in New Orleans early in the twentieth century.",
    "n4": "Glaciers carve U-shaped valleys.",
}
QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}}
RUN = {
    "q1": {"n1": 5.0, "d1": 4.0, "n2": 3.0, "n3": 2.0, "n4": 1.0},
    "q2": {"n3": 5.0, "n4": 4.0, "d2": 3.0, "n1": 2.0},
}


def _config(tiny_bert_dir, **overrides) -> TeacherConfig:
    recipe = dict(model=str(tiny_bert_dir), steps=3, batch_size=2, num_negatives=2, warmup_steps=1, max_length=48)
    return TeacherConfig(**{**recipe, **overrides})


def _losses(log_path) -> list[float]:
    return [json.loads(line)["loss"] for line in log_path.read_text().splitlines()]


def test_listwise_loss_is_cross_entropy_with_the_positive_first():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    expected = -math.log(math.exp(2.0) / (math.exp(2.0) + 1.0 + math.exp(-1.0)))
    assert group_loss(logits, "listwise").item() == pytest.approx(expected, rel=1e-6)


def test_pointwise_loss_is_binary_cross_entropy_with_the_positive_labelled_one():
    logits = torch.tensor([[2.0, 0.0, -1.0]])
    sigmoid = lambda x: 1 / (1 + math.exp(-x))  # noqa: E731
    expected = -(math.log(sigmoid(2.0)) + math.log(1 - sigmoid(0.0)) + math.log(1 - sigmoid(-1.0))) / 3
    assert group_loss(logits, "pointwise").item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize("loss", ["listwise", "pointwise"])
@pytest.mark.slow
def test_training_runs_logs_every_step_and_saves_a_loadable_model(tiny_bert_dir, tmp_path, loss):
    model = train_cross_encoder(_config(tiny_bert_dir, loss=loss), QUERIES, CORPUS, QRELS, RUN, tmp_path)

    records = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(set(r) == {"step", "loss", "lr", "elapsed_s"} and math.isfinite(r["loss"]) for r in records)
    assert records[0]["lr"] == 0.0  # linear warmup starts from zero
    reloaded = BertCat.load(str(tmp_path / "model"))
    pairs = (["q"], ["p"])
    np.testing.assert_allclose(reloaded.score(*pairs, bf16=False), model.score(*pairs, bf16=False), atol=1e-5)


@pytest.mark.slow
def test_same_seed_gives_the_same_training(tiny_bert_dir, tmp_path):
    config = _config(tiny_bert_dir, steps=2)
    train_cross_encoder(config, QUERIES, CORPUS, QRELS, RUN, tmp_path / "a")
    train_cross_encoder(config, QUERIES, CORPUS, QRELS, RUN, tmp_path / "b")
    assert _losses(tmp_path / "a" / LOG_FILE) == _losses(tmp_path / "b" / LOG_FILE)


@pytest.mark.slow
def test_training_lowers_the_loss_on_a_tiny_set(tiny_bert_dir, tmp_path):
    config = _config(tiny_bert_dir, steps=20, learning_rate=1e-3, warmup_steps=0, bf16=False)
    model = train_cross_encoder(config, QUERIES, CORPUS, QRELS, RUN, tmp_path)

    losses = _losses(tmp_path / LOG_FILE)
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    for qid, text in QUERIES.items():
        positive = next(iter(QRELS[qid]))
        negatives = [pid for pid in RUN[qid] if pid != positive]
        scores = model.score([text] * (1 + len(negatives)), [CORPUS[positive]] + [CORPUS[p] for p in negatives], bf16=False)
        assert scores[0] > scores[1:].max()


def test_queries_without_negatives_in_the_run_are_refused(tiny_bert_dir, tmp_path):
    with pytest.raises(InputError, match="negative"):
        train_cross_encoder(_config(tiny_bert_dir), QUERIES, CORPUS, QRELS, {"q1": {"d1": 1.0}}, tmp_path)


