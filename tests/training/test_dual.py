"""Dual supervision (eq. 8) and the in-batch ColBERT teacher inside the trainer."""

import dataclasses
import json

import pytest
import torch
from test_trainer import _config, _log, _synthetic

from tasb.errors import InputError
from tasb.models.colbert import ColBERT, PassageTokenCache
from tasb.models.student import BertDot
from tasb.training.dual import DualLoss
from tasb.training.inbatch import inbatch_kldiv, inbatch_margin_mse
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.losses import MarginMSELoss
from tasb.training.trainer import train

# b = 2 queries, 4 passages: positives (columns 0, 1), then negatives (2, 3)
QUERIES = torch.tensor([[1.0, 0.0], [0.0, 2.0]])
PASSAGES = torch.tensor([[2.0, 1.0], [0.5, 1.0], [1.0, 1.0], [0.0, -1.0]])
MARGINS = torch.tensor([3.0, 2.5])
TEACHER = torch.tensor([[9.0, 4.0, 5.0, 1.0], [2.0, 8.0, 3.0, 6.0]])


@pytest.fixture(scope="module")
def student(tiny_bert_dir):
    return BertDot.load(str(tiny_bert_dir), query_max_length=12, passage_max_length=16)


@pytest.fixture(scope="module")
def colbert_dir(tiny_bert_dir, tmp_path_factory):
    folder = tmp_path_factory.mktemp("colbert") / "model"
    ColBERT.load(str(tiny_bert_dir), dim=16, query_max_length=12, passage_max_length=16).save(folder)
    return folder


def test_pairwise_part_is_margin_mse_on_each_querys_own_pair(student):
    loss, parts = DualLoss(student, "pairwise", score_scale=2.0).compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS)
    # student scores x2: q0·p0 = 2, q0·p2 = 1 → margin 2; q1·p1 = 2, q1·p3 = -2 → margin 8
    expected = ((2.0 * (2 - 1) - 3.0) ** 2 + (2.0 * (2 - -2) - 2.5) ** 2) / 2
    assert loss.item() == pytest.approx(expected)
    assert parts == {"loss_pair": pytest.approx(expected)}
    reference = MarginMSELoss(student, score_scale=2.0).compute_loss_from_embeddings(QUERIES, PASSAGES[:2], PASSAGES[2:], MARGINS)
    assert loss.item() == pytest.approx(reference.item())


def test_dual_adds_alpha_times_the_in_batch_part(student):
    pair_only, _ = DualLoss(student, "pairwise").compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS)
    scores = QUERIES @ PASSAGES.T
    dual, parts = DualLoss(student, "dual", "kldiv", alpha=0.75).compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS, TEACHER)
    inbatch = inbatch_kldiv(scores, TEACHER).item()
    assert dual.item() == pytest.approx(pair_only.item() + 0.75 * inbatch)
    assert parts == {"loss_pair": pytest.approx(pair_only.item()), "loss_inbatch": pytest.approx(inbatch)}


def test_in_batch_alone_teaches_the_own_pair_too(student):
    scores = QUERIES @ PASSAGES.T
    loss, parts = DualLoss(student, "in-batch").compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS, TEACHER)
    assert set(parts) == {"loss_inbatch"}
    assert loss.item() == pytest.approx(inbatch_margin_mse(scores, TEACHER, include_own_negative=True).item())
    dual, _ = DualLoss(student, "dual", alpha=1.0).compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS, TEACHER)
    assert dual.item() - _pair(student) == pytest.approx(inbatch_margin_mse(scores, TEACHER).item())


def _pair(student) -> float:
    return DualLoss(student, "pairwise").compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS)[0].item()


def test_modes_needing_the_in_batch_teacher_refuse_to_run_without_it(student):
    with pytest.raises(ValueError, match="in-batch teacher"):
        DualLoss(student, "dual").compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS)
    with pytest.raises(ValueError, match="teacher mode"):
        DualLoss(student, "both")
    with pytest.raises(ValueError, match="in-batch loss"):
        DualLoss(student, "dual", "hinge")


@pytest.mark.slow
def test_teacher_scores_match_colbert_with_and_without_the_cache(colbert_dir):
    dataset, _ = _synthetic()
    model = ColBERT.load(str(colbert_dir))
    pids = ["p0", "p1", "p0-n1", "p1-n2"]
    query_texts = [dataset.queries["q0"], dataset.queries["q1"]]
    direct = torch.stack([torch.tensor(model.score([q] * 4, [dataset.corpus[p] for p in pids], bf16=False)) for q in query_texts])
    on_the_fly = ColbertTeacher(model, dataset.corpus, bf16=False).scores(query_texts, pids)
    cache = PassageTokenCache(model, bf16=False)
    cache.add(sorted(dataset.corpus), dataset.corpus)
    cached = ColbertTeacher(model, dataset.corpus, cache, scale=2.0, bf16=False).scores(query_texts, pids)
    # score() and the cache keep fp16 vectors, the on-the-fly teacher fp32: they agree to fp16 precision
    torch.testing.assert_close(on_the_fly, direct, atol=2e-3, rtol=0)
    torch.testing.assert_close(cached, 2.0 * direct, atol=4e-3, rtol=0)
    assert cache.estimate_bytes([dataset.corpus[p] for p in sorted(dataset.corpus)]) == cache.nbytes


@pytest.mark.slow
def test_cache_falls_back_to_on_the_fly_scoring_when_it_does_not_fit(colbert_dir, caplog):
    dataset, _ = _synthetic()
    model = ColBERT.load(str(colbert_dir))
    assert ColbertTeacher.build(model, dataset.corpus, list(dataset.corpus), "auto", max_gb=1e-9).cache is None
    assert "on the fly" in caplog.text and "GB" in caplog.text
    assert ColbertTeacher.build(model, dataset.corpus, list(dataset.corpus), "auto", max_gb=1.0).cache is not None
    assert ColbertTeacher.build(model, dataset.corpus, list(dataset.corpus), "never").cache is None


@pytest.mark.slow
def test_dual_training_logs_each_part_and_never_changes_the_teacher(tmp_path, tiny_bert_dir, colbert_dir):
    dataset, scores = _synthetic()
    before = {k: v.clone() for k, v in ColBERT.load(str(colbert_dir)).encoder.state_dict().items()}
    config = _config(tmp_path, tiny_bert_dir, "dual", teacher_mode="dual", inbatch_loss="listnet", colbert_teacher=str(colbert_dir))
    folder = train(config, dataset, scores)

    lines = _log(folder)
    assert all({"loss_pair", "loss_inbatch"} <= set(line) for line in lines)
    for line in lines:
        assert line["loss"] == pytest.approx(line["loss_pair"] + 0.75 * line["loss_inbatch"], rel=1e-5)
    after = ColBERT.load(str(colbert_dir)).encoder.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)


@pytest.mark.slow
def test_gradients_reach_the_student_and_never_the_teacher(tiny_bert_dir, colbert_dir, student):
    dataset, _ = _synthetic()
    model = ColBERT.load(str(colbert_dir))
    teacher = ColbertTeacher(model, dataset.corpus, bf16=False)
    pids = ["p0", "p1", "p0-n1", "p1-n2"]
    query_texts = [dataset.queries["q0"], dataset.queries["q1"]]
    teacher_scores = teacher.scores(query_texts, pids)
    assert not teacher_scores.requires_grad
    loss, _ = DualLoss(student, "dual")(
        student.tokenize(query_texts, 12), student.tokenize([dataset.corpus[p] for p in pids], 16), MARGINS, teacher_scores
    )
    loss.backward()
    assert all(p.grad is None for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in student.encoder.parameters())
    student.encoder.zero_grad(set_to_none=True)


@pytest.mark.slow
def test_resumed_dual_run_ends_with_the_same_weights(tmp_path, tiny_bert_dir, colbert_dir):
    dataset, scores = _synthetic()
    settings = dict(teacher_mode="dual", colbert_teacher=str(colbert_dir))
    whole = train(_config(tmp_path, tiny_bert_dir, "whole", steps=4, checkpoint_every=2, **settings), dataset, scores)
    train(_config(tmp_path, tiny_bert_dir, "split", steps=2, checkpoint_every=2, **settings), dataset, scores)
    split = train(_config(tmp_path, tiny_bert_dir, "split", steps=4, checkpoint_every=2, **settings), dataset, scores, resume=True)
    expected = BertDot.load(str(whole / "model")).encoder.state_dict()
    got = BertDot.load(str(split / "model")).encoder.state_dict()
    assert all(torch.equal(expected[k], got[k]) for k in expected)
    timings = ("steps_per_s", "elapsed_s", "sampler_wait_s")
    assert _log(split) == [{**a, **{k: b[k] for k in timings}} for a, b in zip(_log(whole), _log(split))]


def test_in_batch_modes_need_a_colbert_teacher(tmp_path, tiny_bert_dir):
    dataset, scores = _synthetic()
    with pytest.raises(InputError, match="colbert_teacher"):
        train(_config(tmp_path, tiny_bert_dir, "run", teacher_mode="in-batch"), dataset, scores)
    assert json.dumps(_config(tmp_path, tiny_bert_dir, "run").teacher_mode) == '"pairwise"'


def test_label_part_adds_its_weight_times_the_contrastive_loss_at_its_own_scale(student):
    from tasb.training.losses import contrastive

    judged = torch.tensor([True, True])
    pair_only, _ = DualLoss(student, "pairwise", score_scale=2.0).compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS)
    loss_fn = DualLoss(student, "pairwise", score_scale=2.0, contrastive_weight=0.5, contrastive_scale=3.0)
    total, parts = loss_fn.compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS, judged=judged)
    labels = contrastive((QUERIES @ PASSAGES.T) * 3.0, judged)
    assert parts["loss_label"] == pytest.approx(labels.item())
    assert total.item() == pytest.approx(pair_only.item() + 0.5 * labels.item())


@pytest.mark.slow
def test_trainer_teaches_labels_and_masks_other_relevant_passages(tmp_path, tiny_bert_dir):
    from tasb.training.dual import label_masks
    from tasb.data.records import ScoredPair

    batch = [ScoredPair(1, 0, "q0", "a", "b"), ScoredPair(1, 0, "q1", "c", "a"), ScoredPair(1, 0, "q2", "x", "d")]
    qrels = {"q0": {"a": 1}, "q1": {"c": 2, "a": 1}, "q2": {"y": 1, "x": 0}}
    judged, also = label_masks(batch, qrels, torch.device("cpu"))
    assert judged.tolist() == [True, True, False]
    # columns: a c x | b a d; q1 finds a relevant at columns 0 and 4, its own positive is column 1
    assert also.tolist() == [
        [False, False, False, False, True, False],
        [True, False, False, False, True, False],
        [False, False, False, False, False, False],
    ]

    dataset, scores = _synthetic()
    dataset = dataclasses.replace(dataset, qrels={f"q{i}": {f"p{i}": 1} for i in range(20)})
    folder = train(_config(tmp_path, tiny_bert_dir, "labels", contrastive_weight=1.0), dataset, scores)
    assert all("loss_label" in line and line["loss_label"] > 0 for line in _log(folder))


def test_pairwise_weight_scales_the_pairwise_part_only(student):
    judged = torch.tensor([True, True])
    full, parts = DualLoss(student, "pairwise", contrastive_weight=1.0).compute_loss_from_embeddings(QUERIES, PASSAGES, MARGINS, judged=judged)
    quarter, _ = DualLoss(student, "pairwise", contrastive_weight=1.0, pairwise_weight=0.25).compute_loss_from_embeddings(
        QUERIES, PASSAGES, MARGINS, judged=judged
    )
    assert quarter.item() == pytest.approx(full.item() - 0.75 * parts["loss_pair"])
