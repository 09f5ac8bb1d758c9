"""TAS-Balanced batches and dual supervision inside sentence-transformers' own trainer."""

from collections import Counter

import numpy as np
import pytest
import torch
from scipy.stats import chisquare
from sentence_transformers import SentenceTransformerTrainer, SentenceTransformerTrainingArguments
from sentence_transformers.sentence_transformer.losses import MarginMSELoss
from test_dual import colbert_dir  # noqa: F401  (a fixture)

from tasb.data.records import ScoredPair
from tasb.models.colbert import ColBERT
from tasb.models.student import BertDot
from tasb.sampling import margin_bins
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.st_plugins import DualSupervisionLoss, TASBatchSampler, pairs_dataset, tas_batch_sampler

TOPICS = ["protein folding", "heart disease", "vitamin d", "gut bacteria"]


def _clustered(queries_per_topic: int = 8, pairs_per_query: int = 10):
    """Each topic's queries form a cluster; a query's margins are skewed: most pairs easy (wide margin)."""
    queries, corpus, clusters, pairs = {}, {}, {}, []
    for t, topic in enumerate(TOPICS):
        for i in range(queries_per_topic):
            qid = f"t{t}q{i}"
            queries[qid], clusters[qid] = f"{topic} question {i}", t
            corpus[f"{qid}-p"] = f"{topic} answer {i}"
            for j in range(pairs_per_query):
                corpus[f"{qid}-n{j}"] = f"unrelated text {t} {i} {j}"
                margin = 0.5 + j if j < 2 else 10.0 + 0.01 * j  # two hard pairs, eight easy ones
                pairs.append(ScoredPair(margin, 0.0, qid, f"{qid}-p", f"{qid}-n{j}"))
    qrels = {qid: {f"{qid}-p": 1} for qid in queries}
    return queries, corpus, clusters, pairs, qrels


def test_tas_balanced_batches_hold_one_cluster_and_draw_margin_ranges_uniformly():
    queries, corpus, clusters, pairs, _ = _clustered()
    dataset = pairs_dataset(pairs, queries, corpus)
    sampler = tas_batch_sampler(pairs, "tas-balanced", clusters=clusters, margin_bins=2)(dataset, batch_size=8, drop_last=True, seed=3)
    assert isinstance(sampler, TASBatchSampler) and len(sampler) == len(pairs) // 8
    bins = margin_bins(*_query_index_and_margins(pairs), 2)
    drawn = Counter()
    for epoch in range(20):
        sampler.set_epoch(epoch)
        for batch in sampler:
            assert len(batch) == 8 and len({pairs[i].qid for i in batch}) == 8
            assert len({clusters[pairs[i].qid] for i in batch}) == 1  # n = 1 cluster a batch
            drawn.update(int(bins[i]) for i in batch)
    # 2 hard pairs of 10 a query: Random would draw the hard range a fifth of the time, TAS-Balanced half
    assert chisquare([drawn[0], drawn[1]]).pvalue > 0.001
    # the dataset's rows are the pairs, in order, with their numbers as labels
    assert dataset[5] == {"anchor": queries[pairs[5].qid], "positive": corpus[pairs[5].pid_pos],
                          "negative": corpus[pairs[5].pid_neg], "label": 5}


def _query_index_and_margins(pairs):
    qids = {qid: n for n, qid in enumerate(dict.fromkeys(p.qid for p in pairs))}
    return np.array([qids[p.qid] for p in pairs]), np.array([p.score_pos - p.score_neg for p in pairs])


def test_an_epoch_is_reproducible_from_seed_and_epoch():
    queries, corpus, clusters, pairs, _ = _clustered()
    dataset = pairs_dataset(pairs, queries, corpus)
    make = tas_batch_sampler(pairs, "tas", clusters=clusters)
    first, again = make(dataset, batch_size=8, seed=1), make(dataset, batch_size=8, seed=1)
    assert list(first) == list(again)
    again.set_epoch(1)
    assert list(first) != list(again)


def test_pairwise_loss_without_labels_is_sentence_transformers_margin_mse(tiny_bert_dir):
    queries, corpus, clusters, pairs, _ = _clustered(2, 2)
    model = BertDot.load(str(tiny_bert_dir)).encoder
    batch = [0, 1, 2, 3]
    texts = pairs_dataset(pairs, queries, corpus)[batch]
    features = [model.tokenize(texts[column]) for column in ("anchor", "positive", "negative")]
    ours = DualSupervisionLoss(model, pairs, queries, mode="pairwise")(features, torch.tensor(batch))
    margins = torch.tensor([pairs[i].score_pos - pairs[i].score_neg for i in batch])
    theirs = MarginMSELoss(model)(features, margins)
    torch.testing.assert_close(ours, theirs, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_sentence_transformers_trainer_trains_with_tas_balanced_batches_and_dual_supervision(tiny_bert_dir, colbert_dir, tmp_path):  # noqa: F811
    queries, corpus, clusters, pairs, qrels = _clustered()
    model = BertDot.load(str(tiny_bert_dir)).encoder
    teacher = ColbertTeacher(ColBERT.load(str(colbert_dir)), corpus, bf16=False)
    loss = DualSupervisionLoss(model, pairs, queries, mode="dual", inbatch_teacher=teacher, qrels=qrels, contrastive_weight=1.0)
    seen = []
    forward = loss.forward
    loss.forward = lambda features, labels: seen.append(labels.tolist()) or forward(features, labels)
    before = [p.detach().clone() for p in model.parameters()]
    args = SentenceTransformerTrainingArguments(
        output_dir=str(tmp_path / "out"), max_steps=4, per_device_train_batch_size=8, learning_rate=1e-3,
        batch_sampler=tas_batch_sampler(pairs, "tas-balanced", clusters=clusters), use_cpu=True,
        save_strategy="no", report_to="none", seed=5, dataloader_drop_last=True,
    )
    SentenceTransformerTrainer(model=model, args=args, train_dataset=pairs_dataset(pairs, queries, corpus), loss=loss).train()
    assert len(seen) == 4
    for batch in seen:
        assert len(batch) == 8 and len({clusters[pairs[i].qid] for i in batch}) == 1
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))


def test_bad_settings_are_refused_before_training(tiny_bert_dir):
    queries, corpus, clusters, pairs, _ = _clustered(2, 2)
    dataset = pairs_dataset(pairs, queries, corpus)
    with pytest.raises(ValueError, match="needs clusters"):
        tas_batch_sampler(pairs, "tas-balanced")(dataset, batch_size=2)
    with pytest.raises(ValueError, match="rows but there are"):
        tas_batch_sampler(pairs[:3], "random")(dataset, batch_size=2)
    model = BertDot.load(str(tiny_bert_dir)).encoder
    with pytest.raises(ValueError, match="needs an inbatch_teacher"):
        DualSupervisionLoss(model, pairs, queries, mode="dual")
    with pytest.raises(ValueError, match="needs qrels"):
        DualSupervisionLoss(model, pairs, queries, mode="pairwise", contrastive_weight=1.0)
