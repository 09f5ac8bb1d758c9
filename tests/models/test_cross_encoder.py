"""BERT_CAT: a saved teacher loads elsewhere unchanged, the query is never truncated, padding is harmless."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from sentence_transformers import CrossEncoder
from transformers import AutoModelForSequenceClassification

from tasb.errors import InputError
from tasb.models.cross_encoder import BertCat

QUERIES = ["what do mitochondria do", "does vitamin d prevent fractures", "gene expression in mice"]
PASSAGES = [
    "Mitochondria produce most of the chemical energy needed to power the cell's biochemical reactions.",
    "A randomised trial of vitamin D supplements found no reduction in fractures among older adults.",
    "Mice",
]


@pytest.fixture(scope="module")
def teacher(tiny_bert_dir) -> BertCat:
    torch.manual_seed(0)
    return BertCat.load(str(tiny_bert_dir), max_length=32)


@pytest.mark.slow
def test_saved_teacher_gives_identical_scores_in_sentence_transformers_and_transformers(teacher, tmp_path):
    teacher.save(tmp_path / "model")
    ours = teacher.score(QUERIES, PASSAGES, bf16=False)

    theirs = CrossEncoder(str(tmp_path / "model")).predict(list(zip(QUERIES, PASSAGES)))
    hf = AutoModelForSequenceClassification.from_pretrained(tmp_path / "model").eval()
    with torch.no_grad():
        raw = hf(**teacher.tokenize(QUERIES, PASSAGES)).logits.squeeze(-1).numpy()
    reloaded = BertCat.load(str(tmp_path / "model"))

    np.testing.assert_allclose(theirs, ours, atol=1e-5)
    np.testing.assert_allclose(raw, ours, atol=1e-5)
    np.testing.assert_allclose(reloaded.score(QUERIES, PASSAGES, bf16=False), ours, atol=1e-5)
    assert reloaded.max_length == 32
    assert json.loads((tmp_path / "model" / "tasb.json").read_text()) == {"architecture": "BERT_CAT", "max_length": 32}


def test_truncation_cuts_the_passage_never_the_query(teacher):
    query = "which genes regulate circadian rhythm in fruit flies"
    features = teacher.tokenize([query], ["protein " * 200])
    ids = features["input_ids"][0].tolist()
    first_sep = ids.index(teacher.tokenizer.sep_token_id)

    assert len(ids) == 32
    assert teacher.tokenizer.decode(ids[1:first_sep]) == query


def test_query_longer_than_max_length_is_refused_naming_it(teacher):
    with pytest.raises(InputError, match="at most 28 tokens"):
        teacher.score(["word " * 40], ["a passage"])


def test_a_pair_scores_the_same_alone_as_in_a_padded_batch(teacher):
    batch = teacher.score(QUERIES, PASSAGES, bf16=False)
    alone = [teacher.score([q], [p], bf16=False)[0] for q, p in zip(QUERIES, PASSAGES)]

    np.testing.assert_allclose(batch, alone, atol=1e-5)


def test_score_keeps_input_order_across_length_sorted_batches(teacher):
    whole = teacher.score(QUERIES, PASSAGES, batch_size=3, bf16=False)
    in_small_batches = teacher.score(QUERIES, PASSAGES, batch_size=1, bf16=False)
    reversed_input = teacher.score(QUERIES[::-1], PASSAGES[::-1], batch_size=2, bf16=False)

    np.testing.assert_allclose(in_small_batches, whole, atol=1e-5)
    np.testing.assert_allclose(reversed_input[::-1], whole, atol=1e-5)


@pytest.mark.slow
def test_sentence_transformers_folder_contributes_its_transformer_weights(tiny_bert_dir, tmp_path):
    from tasb.models.student import BertDot

    student = BertDot.load(str(tiny_bert_dir), pooling="mean")
    student.save(tmp_path / "student")
    teacher = BertCat.load(str(tmp_path / "student"))

    encoder_weights = student.encoder[0].auto_model.embeddings.word_embeddings.weight
    assert torch.equal(teacher.model.bert.embeddings.word_embeddings.weight, encoder_weights)
