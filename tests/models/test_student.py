"""BERT_DOT: pooling, length caps, and folders other tools load unchanged."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sentence_transformers import SentenceTransformer
from transformers import AutoModel, AutoTokenizer

from tasb.models.student import BertDot

TEXTS = ["a short one", "a somewhat longer passage about proteins binding to receptors in cells", "x"]


def _hidden_states(folder, texts):
    tokenizer = AutoTokenizer.from_pretrained(folder)
    features = tokenizer(texts, padding=True, truncation=True, max_length=200, return_tensors="pt")
    with torch.no_grad():
        hidden = AutoModel.from_pretrained(folder)(**features).last_hidden_state
    return hidden, features["attention_mask"]


def test_plain_bert_folder_gets_the_papers_cls_pooling(tiny_bert_dir):
    model = BertDot.load(str(tiny_bert_dir))
    hidden, _ = _hidden_states(tiny_bert_dir, TEXTS)
    assert (model.pooling, model.normalize) == ("cls", False)
    np.testing.assert_allclose(model.encode_passages(TEXTS), hidden[:, 0].numpy(), atol=1e-5)


def test_mean_pooling_averages_the_unpadded_tokens(tiny_bert_dir):
    model = BertDot.load(str(tiny_bert_dir), pooling="mean")
    hidden, mask = _hidden_states(tiny_bert_dir, TEXTS)
    expected = (hidden * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    np.testing.assert_allclose(model.encode_passages(TEXTS), expected.numpy(), atol=1e-5)


def test_normalize_gives_unit_vectors(tiny_bert_dir):
    vectors = BertDot.load(str(tiny_bert_dir), normalize=True).encode_queries(TEXTS)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
def test_default_model_keeps_its_mean_pooling_and_normalisation():
    model = BertDot.load("all-MiniLM-L6-v2")
    assert (model.pooling, model.normalize, model.dim) == ("mean", True, 384)


def test_queries_and_passages_have_their_own_length_caps(tiny_bert_dir):
    model = BertDot.load(str(tiny_bert_dir), query_max_length=8, passage_max_length=16)
    long_text = " ".join(["word"] * 100)
    assert model.tokenize([long_text], model.query_max_length)["input_ids"].shape[1] == 8
    assert model.tokenize([long_text], model.passage_max_length)["input_ids"].shape[1] == 16


@pytest.mark.slow
def test_batching_and_padding_do_not_change_vectors(tiny_bert_dir):
    model = BertDot.load(str(tiny_bert_dir), pooling="mean")
    together = model.encode_passages(TEXTS, batch_size=3)
    alone = np.vstack([model.encode_passages([t]) for t in TEXTS])
    np.testing.assert_allclose(together, alone, atol=1e-5)


@pytest.mark.parametrize("pooling, normalize", [("cls", False), ("mean", True)])
@pytest.mark.slow
def test_saved_folder_loads_in_sentence_transformers_with_the_same_vectors(tiny_bert_dir, tmp_path, pooling, normalize):
    model = BertDot.load(str(tiny_bert_dir), pooling=pooling, normalize=normalize, query_max_length=12)
    model.save(tmp_path / "student")
    st_vectors = SentenceTransformer(str(tmp_path / "student")).encode(TEXTS)
    np.testing.assert_allclose(st_vectors, model.encode_passages(TEXTS), atol=1e-5)
    reloaded = BertDot.load(str(tmp_path / "student"))
    assert (reloaded.pooling, reloaded.normalize, reloaded.query_max_length) == (pooling, normalize, 12)
    assert reloaded.fingerprint() == model.fingerprint()


def test_fingerprint_follows_the_weights(tiny_bert_dir):
    model = BertDot.load(str(tiny_bert_dir))
    before = model.fingerprint()
    with torch.no_grad():
        next(model.encoder.parameters()).add_(1e-3)
    assert model.fingerprint() != before
