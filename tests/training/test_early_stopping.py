import json

import numpy as np
import pytest
import torch
from test_trainer import _config, _synthetic

from tasb.config import ValidationConfig
from tasb.data.records import Dataset
from tasb.errors import InputError
from tasb.models.student import BertDot
from tasb.retrieval.scorers import DotScorer
from tasb.training import trainer as trainer_module
from tasb.training.trainer import train
from tasb.training.validation import EarlyStopping, build_validation_set, validation_score


def _judged(num_queries: int = 20):
    dataset, scores = _synthetic(num_queries)
    qrels = {f"q{q}": {f"p{q}": 1, f"p{q}-n1": 0} for q in range(num_queries)}
    return Dataset(dataset.corpus, dataset.queries, qrels, dataset.source), scores


def _validation_log(folder) -> list[dict]:
    return [json.loads(line) for line in (folder / "validation.jsonl").read_text().splitlines()]


def _weights(folder):
    return BertDot.load(str(folder)).encoder.state_dict()


def _same_weights(a, b) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[name], b[name]) for name in a)


def test_early_stopping_keeps_the_first_best_and_runs_out_after_patience():
    stopping = EarlyStopping(patience=2)
    assert [stopping.update(step, value) for step, value in [(0, 0.3), (10, 0.5), (20, 0.5), (30, 0.4)]] == [
        True, True, False, False,
    ]
    assert (stopping.best_step, stopping.best_value, stopping.exhausted) == (10, 0.5, True)
    assert EarlyStopping(2, **stopping.state()) == stopping
    resumed_with_more_patience = EarlyStopping(3, **stopping.state())
    assert not resumed_with_more_patience.exhausted


def test_validation_set_holds_out_judged_queries_with_baseline_top_k_and_judged_passages(tmp_path):
    dataset, scores = _judged()
    run = tmp_path / "baseline.trec"
    # the baseline ranks three negatives per query and misses the judged passage
    run.write_text(
        "".join(f"q{q} Q0 p{(q + r) % 20}-n1 {r + 1} {10 - r} base\n" for q in range(20) for r in range(3)), encoding="utf-8"
    )
    config = ValidationConfig(queries=5, run=str(run), rerank_depth=2, seed=3)
    held_out = build_validation_set(config, dataset, (row.qid for row in scores))

    assert len(held_out.queries) == 5
    assert held_out == build_validation_set(config, dataset, (row.qid for row in scores))
    for qid in held_out.queries:
        q = int(qid[1:])
        # top-2 of the baseline, then the relevant passage; the judged non-relevant one is not added
        assert held_out.candidates[qid] == [f"p{q}-n1", f"p{(q + 1) % 20}-n1", f"p{q}"]
    assert held_out.queries != build_validation_set(
        ValidationConfig(queries=5, run=str(run), rerank_depth=2, seed=4), dataset, (row.qid for row in scores)
    ).queries


def test_validation_needs_queries_left_to_train_on_and_known_qids(tmp_path):
    dataset, scores = _judged()
    with pytest.raises(InputError, match="validation.queries"):
        build_validation_set(ValidationConfig(queries=20), dataset, (row.qid for row in scores))
    qids = tmp_path / "qids.txt"
    qids.write_text("q1\nq404\n", encoding="utf-8")
    with pytest.raises(InputError, match="judged 1 or higher") as caught:
        build_validation_set(ValidationConfig(qids=str(qids)), dataset, (row.qid for row in scores))
    assert (caught.value.path, caught.value.line, caught.value.got) == (str(qids), 2, "q404")


@pytest.mark.slow
def test_rerank_scores_each_candidate_by_the_dot_product_of_its_vectors(tiny_bert_dir):
    dataset, scores = _judged()
    held_out = build_validation_set(ValidationConfig(queries=4, rerank_depth=5), dataset, (row.qid for row in scores))
    student = BertDot.load(str(tiny_bert_dir), query_max_length=12, passage_max_length=16)

    run = DotScorer(student, bf16=False, name="validation").score(held_out.candidates, held_out.queries, held_out.corpus)

    for qid, candidates in held_out.candidates.items():
        query = student.encode_queries([dataset.queries[qid]])[0]
        passages = student.encode_passages([dataset.corpus[pid] for pid in candidates])
        np.testing.assert_allclose([run[qid][pid] for pid in candidates], passages @ query, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_training_stops_after_patience_and_keeps_the_best_model(tmp_path, tiny_bert_dir, monkeypatch):
    dataset, scores = _judged()
    scripted = iter([0.2, 0.6, 0.5, 0.4, 0.9])
    monkeypatch.setattr(trainer_module, "validation_score", lambda *args: next(scripted))
    config = _config(
        tmp_path, tiny_bert_dir, "run", steps=20, checkpoint_every=2, keep_checkpoints=10,
        validation=ValidationConfig(queries=4, every=2, patience=2),
    )

    folder = train(config, dataset, scores)

    assert (folder / "validation.png").stat().st_size > 0
    assert [(line["step"], line["nDCG@10"], line["best"]) for line in _validation_log(folder)] == [
        (0, 0.2, True), (2, 0.6, True), (4, 0.5, False), (6, 0.4, False),
    ]
    metrics = json.loads((folder / "metrics.json").read_text())
    assert (metrics["steps"], metrics["stopped_by"], metrics["best_step"], metrics["best_validation"]) == (
        6, "early-stopping", 2, 0.6,
    )
    assert _same_weights(_weights(folder / "model"), _weights(folder / "checkpoints" / "step-2" / "model"))
    assert not _same_weights(_weights(folder / "model"), _weights(folder / "checkpoints" / "step-6" / "model"))


@pytest.mark.slow
def test_held_out_queries_never_reach_the_sampler(tmp_path, tiny_bert_dir, monkeypatch):
    dataset, scores = _judged()
    seen = {}
    build = trainer_module.sampler_for

    def spy(config, rows):
        seen["qids"] = {row.qid for row in rows}
        return build(config, rows)

    monkeypatch.setattr(trainer_module, "sampler_for", spy)
    config = _config(tmp_path, tiny_bert_dir, "run", steps=2, validation=ValidationConfig(queries=5, every=1))
    train(config, dataset, scores)

    held_out = {line for line in build_validation_set(config.validation, dataset, (r.qid for r in scores)).queries}
    assert len(held_out) == 5 and seen["qids"] == {row.qid for row in scores} - held_out


@pytest.mark.slow
def test_a_run_stopped_by_its_budget_validates_its_last_step(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    config = _config(tmp_path, tiny_bert_dir, "run", steps=5, validation=ValidationConfig(queries=4, every=2, patience=5))
    folder = train(config, dataset, scores)

    assert [line["step"] for line in _validation_log(folder)] == [0, 2, 4, 5]
    best = max(_validation_log(folder), key=lambda line: line["nDCG@10"])
    held_out = build_validation_set(config.validation, dataset, (row.qid for row in scores))
    model_score = validation_score(BertDot.load(str(folder / "model")), held_out, "nDCG@10", rel=1, bf16=False)
    assert model_score == pytest.approx(best["nDCG@10"])


@pytest.mark.slow
def test_a_start_scored_by_the_caller_is_step_0_and_is_kept_when_no_step_beats_it(tmp_path, tiny_bert_dir, monkeypatch):
    dataset, scores = _judged()
    # the quickstart chose the start on the held-out queries; steps 2 and 3 then score 0.5 and 0.4 below it
    _scripted(monkeypatch, [0.5, 0.4])
    config = _config(tmp_path, tiny_bert_dir, "run", steps=3, validation=ValidationConfig(queries=4, every=2, patience=5))
    held_out = build_validation_set(config.validation, dataset, (row.qid for row in scores))
    folder = train(config, dataset, scores, validation=held_out, start_validation=0.7)

    assert [(line["step"], line["nDCG@10"], line["best"]) for line in _validation_log(folder)] == [
        (0, 0.7, True), (2, 0.5, False), (3, 0.4, False),
    ]
    assert _same_weights(_weights(folder / "model"), _weights(tiny_bert_dir))


def test_a_start_score_without_the_validation_set_it_was_measured_on_is_refused(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    config = _config(tmp_path, tiny_bert_dir, "run", steps=2, validation=ValidationConfig(queries=4, every=2))
    with pytest.raises(InputError, match="the validation set it was measured on"):
        train(config, dataset, scores, start_validation=0.7)
    assert not (tmp_path / "run").exists()


@pytest.mark.slow
def test_resumed_validated_run_matches_an_uninterrupted_one(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    validation = ValidationConfig(queries=4, every=2, patience=10)
    whole = train(_config(tmp_path, tiny_bert_dir, "whole", steps=6, validation=validation), dataset, scores)

    train(_config(tmp_path, tiny_bert_dir, "split", steps=4, validation=validation), dataset, scores)
    split = train(_config(tmp_path, tiny_bert_dir, "split", steps=6, validation=validation), dataset, scores, resume=True)

    assert _validation_log(split) == [
        {**line, "elapsed_s": split_line["elapsed_s"]} for line, split_line in zip(_validation_log(whole), _validation_log(split))
    ]
    assert _same_weights(_weights(whole / "model"), _weights(split / "model"))


def _crash_at_step(monkeypatch, step: int) -> None:
    calls = {"n": 0}
    real = trainer_module._train_step

    def crashing(run, batch):
        calls["n"] += 1
        if calls["n"] == step:
            raise KeyboardInterrupt
        return real(run, batch)

    monkeypatch.setattr(trainer_module, "_train_step", crashing)


def _scripted(monkeypatch, values) -> None:
    scripted = iter(values)
    monkeypatch.setattr(trainer_module, "validation_score", lambda *args: next(scripted))


@pytest.mark.slow
def test_a_best_model_saved_after_the_last_checkpoint_is_rolled_back_on_resume(tmp_path, tiny_bert_dir, monkeypatch):
    dataset, scores = _judged()
    config = _config(
        tmp_path, tiny_bert_dir, "run", steps=8, checkpoint_every=4, keep_checkpoints=10,
        validation=ValidationConfig(queries=4, every=2, patience=10),
    )
    # killed at step 7: step 6 had just become the best, after the step-4 checkpoint
    _scripted(monkeypatch, [0.1, 0.2, 0.3, 0.9])
    _crash_at_step(monkeypatch, 7)
    with pytest.raises(KeyboardInterrupt):
        train(config, dataset, scores)
    monkeypatch.undo()
    # the rerun of steps 5-8 scores lower (as a time budget or a non-deterministic kernel could make it)
    _scripted(monkeypatch, [0.25, 0.2])
    folder = train(config, dataset, scores, resume=True)

    metrics = json.loads((folder / "metrics.json").read_text())
    assert (metrics["best_step"], metrics["best_validation"]) == (4, 0.3)
    assert _same_weights(_weights(folder / "model"), _weights(folder / "checkpoints" / "step-4" / "model"))


@pytest.mark.slow
def test_a_run_out_of_patience_does_not_train_on_when_resumed(tmp_path, tiny_bert_dir, monkeypatch):
    dataset, scores = _judged()
    validation = ValidationConfig(queries=4, every=2, patience=1)
    _scripted(monkeypatch, [0.5, 0.4])
    folder = train(_config(tmp_path, tiny_bert_dir, "run", steps=10, validation=validation), dataset, scores)
    (folder / "DONE").unlink()

    train(_config(tmp_path, tiny_bert_dir, "run", steps=20, validation=validation), dataset, scores, resume=True)

    metrics = json.loads((folder / "metrics.json").read_text())
    assert (metrics["steps"], metrics["stopped_by"]) == (2, "early-stopping")
    assert [line["step"] for line in _validation_log(folder)] == [0, 2]


@pytest.mark.slow
def test_a_run_killed_before_its_first_checkpoint_logs_step_zero_once(tmp_path, tiny_bert_dir, monkeypatch):
    dataset, scores = _judged()
    config = _config(tmp_path, tiny_bert_dir, "run", steps=4, checkpoint_every=4, validation=ValidationConfig(queries=4, every=2))
    _crash_at_step(monkeypatch, 2)
    with pytest.raises(KeyboardInterrupt):
        train(config, dataset, scores)
    monkeypatch.undo()
    folder = train(config, dataset, scores, resume=True)
    assert [line["step"] for line in _validation_log(folder)] == [0, 2, 4]


def test_unknown_validation_metric_or_both_ways_of_holding_out_are_refused_before_training(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    for validation, message in [
        (ValidationConfig(queries=4, metric="ndcg@10"), "validation.metric"),
        (ValidationConfig(queries=4, qids="qids.txt"), "one of validation.queries"),
    ]:
        with pytest.raises(InputError, match=message):
            train(_config(tmp_path, tiny_bert_dir, "run", validation=validation), dataset, scores)
        assert not (tmp_path / "run").exists()
