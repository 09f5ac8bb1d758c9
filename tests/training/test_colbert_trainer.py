"""ColBERT teacher fine-tuning: both losses are what their docstrings say, training re-ranks better than the
untrained model, logs every step, saves a loadable model, and refuses a loss without its data."""

from __future__ import annotations

import json
import math
import random
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from tasb.config import ColbertConfig
from tasb.data.records import ScoredPair
from tasb.errors import InputError
from tasb.layout import TEACHER_LOG as LOG_FILE
from tasb.models.colbert import ColBERT, maxsim, maxsim_pairs
from tasb.training.colbert_trainer import listwise_colbert_loss, margin_mse_colbert_loss, train_colbert

TOPICS = ["cat", "river", "engine", "violin", "comet", "bread", "glacier", "tennis"]
FILLER = ["the", "a", "of", "and", "with", "under", "over", "near", "some", "many", "old", "new"]
NUM_NEGATIVES = 3


def _synthetic(num_queries: int = 8):
    """Each query's positive repeats its topic and number; its run negatives are filler plus other topics."""
    rng = random.Random(0)
    queries, corpus, qrels, run = {}, {}, {}, {}
    for q in range(num_queries):
        topic = TOPICS[q % len(TOPICS)]
        queries[f"q{q}"] = f"what about the {topic} number {q}"
        corpus[f"p{q}"] = f"the {topic} number {q} " + " ".join(rng.choices(FILLER, k=6))
        for k in range(1, NUM_NEGATIVES + 1):
            corpus[f"p{q}-n{k}"] = " ".join(rng.choices(FILLER, k=8)) + f" {TOPICS[(q + k) % len(TOPICS)]}"
        qrels[f"q{q}"] = {f"p{q}": 1}
        # the positive is not on top of the run: the negatives are what the run got wrong
        run[f"q{q}"] = {f"p{q}-n{k}": 10.0 - k for k in range(1, NUM_NEGATIVES + 1)} | {f"p{q}": 5.0}
    scores = [ScoredPair(5.0, float(-k), qid, f"p{qid[1:]}", f"p{qid[1:]}-n{k}") for qid in queries for k in (1, 2)]
    return queries, corpus, qrels, run, scores


QUERIES, CORPUS, QRELS, RUN, SCORES = _synthetic()
# every query with its positive first, then all its run negatives: the whole re-ranking task at once
ALL_GROUPS = [[qid, f"p{qid[1:]}", *(f"p{qid[1:]}-n{k}" for k in range(1, NUM_NEGATIVES + 1))] for qid in QUERIES]


def _config(tiny_bert_dir, **overrides) -> ColbertConfig:
    recipe = dict(
        model=str(tiny_bert_dir), dim=16, steps=25, batch_size=4, num_negatives=2, learning_rate=1e-3,
        warmup_steps=0, bf16=False, query_max_length=12, passage_max_length=24, scoring_passage_max_length=None,
    )
    return ColbertConfig(**{**recipe, **overrides})


@pytest.fixture(scope="module")
def colbert(tiny_bert_dir) -> ColBERT:
    return ColBERT.load(str(tiny_bert_dir), dim=16, query_max_length=12, passage_max_length=24)


def _alone(model: ColBERT, queries: list[str], passages: list[str]) -> Callable[[str, str], torch.Tensor]:
    """Pair scores from texts each encoded alone, so no padding is shared with the rest of a batch."""
    with torch.no_grad():
        q = {text: model.query_tokens([text]) for text in queries}
        p = {text: model.passage_tokens([text]) for text in passages}
    return lambda query, passage: maxsim_pairs(q[query], p[passage])[0]


@pytest.mark.slow
def test_listwise_loss_without_in_batch_is_cross_entropy_over_each_own_group(colbert):
    rows = ALL_GROUPS[:3]
    score = _alone(colbert, [QUERIES[r[0]] for r in rows], [CORPUS[pid] for r in rows for pid in r[1:]])
    with torch.no_grad():
        loss = listwise_colbert_loss(colbert, rows, QUERIES, CORPUS, in_batch=False)
    own = torch.stack([torch.stack([score(QUERIES[r[0]], CORPUS[pid]) for pid in r[1:]]) for r in rows])
    expected = F.cross_entropy(own, torch.zeros(len(rows), dtype=torch.long))

    assert loss.item() == pytest.approx(expected.item(), rel=1e-4)


@pytest.mark.slow
def test_listwise_loss_in_batch_ranks_each_positive_among_every_groups_passages(colbert):
    rows = ALL_GROUPS[:3]
    group = len(rows[0]) - 1
    passages = [pid for r in rows for pid in r[1:]]
    score = _alone(colbert, [QUERIES[r[0]] for r in rows], [CORPUS[pid] for pid in passages])
    with torch.no_grad():
        loss = listwise_colbert_loss(colbert, rows, QUERIES, CORPUS, in_batch=True)
    every = [[score(QUERIES[r[0]], CORPUS[pid]).item() for pid in passages] for r in rows]
    expected = np.mean([math.log(sum(math.exp(s) for s in row)) - row[i * group] for i, row in enumerate(every)])

    assert loss.item() == pytest.approx(expected, rel=1e-4)
    # the other groups' passages only add to the denominator, so they can only raise the loss
    assert loss.item() > listwise_colbert_loss(colbert, rows, QUERIES, CORPUS, in_batch=False).item()


@pytest.mark.slow
def test_margin_mse_loss_compares_colberts_margins_with_the_score_files(colbert):
    pairs = SCORES[:4]
    score = _alone(colbert, [QUERIES[p.qid] for p in pairs], [CORPUS[pid] for p in pairs for pid in (p.pid_pos, p.pid_neg)])
    with torch.no_grad():
        loss = margin_mse_colbert_loss(colbert, pairs, QUERIES, CORPUS)
    ours = [(score(QUERIES[p.qid], CORPUS[p.pid_pos]) - score(QUERIES[p.qid], CORPUS[p.pid_neg])).item() for p in pairs]
    expected = np.mean([(margin - p.margin) ** 2 for margin, p in zip(ours, pairs)])

    assert loss.item() == pytest.approx(expected, rel=1e-4)


def _reranking(model: ColBERT) -> tuple[float, float]:
    """Mean listwise loss over every query's full group, and the share of queries whose positive comes first."""
    with torch.no_grad():
        scores = maxsim(
            model.query_tokens([QUERIES[r[0]] for r in ALL_GROUPS]),
            model.passage_tokens([CORPUS[pid] for r in ALL_GROUPS for pid in r[1:]]),
        )
    group = len(ALL_GROUPS[0]) - 1
    own = torch.stack([scores[i, i * group : (i + 1) * group] for i in range(len(ALL_GROUPS))])
    loss = F.cross_entropy(own, torch.zeros(len(own), dtype=torch.long)).item()
    return loss, (own.argmax(-1) == 0).float().mean().item()


@pytest.mark.slow
def test_training_logs_every_step_reranks_better_and_saves_a_loadable_model(tiny_bert_dir, tmp_path):
    config = _config(tiny_bert_dir)
    # the same seed draws the same projection: the untrained starting point of the run
    untrained = ColBERT.load(config.model, dim=16, query_max_length=12, passage_max_length=24, seed=config.seed)
    model = train_colbert(config, QUERIES, CORPUS, tmp_path, qrels=QRELS, run=RUN)

    records = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in records] == list(range(1, 26))
    assert all(math.isfinite(r["loss"]) for r in records)
    loss_before, first_before = _reranking(untrained)
    loss_after, first_after = _reranking(model)
    assert loss_after < 0.5 * loss_before
    # the loss must improve; top-1 can already be high untrained, so it need only not get worse
    assert first_after >= max(first_before, 0.75)

    reloaded = ColBERT.load(str(tmp_path / "model"))
    assert (reloaded.dim, reloaded.query_max_length, reloaded.passage_max_length) == (16, 12, 24)
    pairs = [QUERIES["q0"], QUERIES["q1"]], [CORPUS["p0"], CORPUS["p0-n1"]]
    np.testing.assert_array_equal(reloaded.score(*pairs, bf16=False), model.score(*pairs, bf16=False))


@pytest.mark.slow
def test_the_saved_teacher_scores_longer_passages_than_it_trained_on(tiny_bert_dir, tmp_path):
    model = train_colbert(_config(tiny_bert_dir, steps=1, scoring_passage_max_length=40), QUERIES, CORPUS, tmp_path, qrels=QRELS, run=RUN)
    assert model.passage_max_length == ColBERT.load(str(tmp_path / "model")).passage_max_length == 40
    long_passage = " ".join(["bacteria"] * 100)
    assert len(model.encode_passages([long_passage])[0]) == 40


def test_margin_mse_without_a_score_file_is_refused(tiny_bert_dir, tmp_path):
    with pytest.raises(InputError, match="margin-mse"):
        train_colbert(_config(tiny_bert_dir, loss="margin-mse"), QUERIES, CORPUS, tmp_path, qrels=QRELS, run=RUN)


@pytest.mark.parametrize("missing", ["qrels", "run"])
def test_listwise_without_judgments_or_a_run_is_refused(tiny_bert_dir, tmp_path, missing):
    data = {"qrels": QRELS, "run": RUN, missing: None}
    with pytest.raises(InputError, match="listwise"):
        train_colbert(_config(tiny_bert_dir, loss="listwise"), QUERIES, CORPUS, tmp_path, scores=SCORES, **data)


@pytest.mark.slow
def test_both_losses_train_together(tiny_bert_dir, tmp_path):
    config = _config(tiny_bert_dir, loss="both", steps=3)
    train_colbert(config, QUERIES, CORPUS, tmp_path, qrels=QRELS, run=RUN, scores=SCORES)

    records = [json.loads(line) for line in (tmp_path / LOG_FILE).read_text().splitlines()]
    assert [r["step"] for r in records] == [1, 2, 3]
    assert all(math.isfinite(r["loss"]) for r in records)
    assert ColBERT.load(str(tmp_path / "model")).dim == 16
