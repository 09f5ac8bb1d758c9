"""Honest model folders: sentence-transformers scores a student as tasb does (similarity, query and passage
lengths), and every trained model (student, ColBERT, cross-encoder) carries a card naming its base model,
data, recipe and metrics."""

from __future__ import annotations

import json
import logging
import warnings
from contextlib import contextmanager

import numpy as np
import pytest
import torch
import yaml
from sentence_transformers import CrossEncoder, SentenceTransformer
from transformers import AutoModel, AutoTokenizer

from tasb.config import ColbertConfig, StudentConfig, TeacherConfig, TrainConfig, ValidationConfig
from tasb.data.records import Dataset, ScoredPair
from tasb.models.cards import hub_id, render_card, student_card, write_card
from tasb.models.colbert import ColBERT
from tasb.models.cross_encoder import BertCat
from tasb.models.student import BertDot

QUERIES = ["what do efflux pumps do in bacteria " * 4, "coffee and blood pressure", "x"]
PASSAGES = [
    "Efflux pumps let bacteria expel antibiotics and survive treatment. " * 6,
    "Caffeine intake causes a short rise in blood pressure in most adults.",
    "Glaciers carve U-shaped valleys.",
]
KINDS = [("cls", False, "dot"), ("mean", True, "cosine")]


@contextmanager
def no_warnings():
    """Fails on any Python warning or any WARNING log record (sentence-transformers, transformers, hub) inside."""
    records: list[logging.LogRecord] = []

    class Collect(logging.Handler):
        def emit(self, record):
            records.append(record)

    handler = Collect(level=logging.WARNING)
    loggers = [logging.getLogger(name) for name in ("", "sentence_transformers", "transformers", "huggingface_hub")]
    for logger in loggers:
        logger.addHandler(handler)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield
    finally:
        for logger in loggers:
            logger.removeHandler(handler)
    assert not [str(w.message) for w in caught]
    assert not [record.getMessage() for record in records]


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


@pytest.fixture(scope="module", params=KINDS, ids=[kind[2] for kind in KINDS])
def saved_student(request, tiny_bert_dir, tmp_path_factory):
    pooling, normalize, _ = request.param
    model = BertDot.load(str(tiny_bert_dir), pooling=pooling, normalize=normalize, query_max_length=8, passage_max_length=24)
    folder = tmp_path_factory.mktemp("student") / "model"
    model.save(folder)
    return model, folder, request.param


def test_similarity_follows_the_student_and_matches_tasbs_scores(saved_student):
    model, folder, (_, _, similarity) = saved_student
    with no_warnings():
        st = SentenceTransformer(str(folder))

    assert st.similarity_fn_name == similarity
    assert json.loads((folder / "config_sentence_transformers.json").read_text())["similarity_fn_name"] == similarity
    scores = st.similarity(st.encode_query(QUERIES), st.encode_document(PASSAGES)).numpy()
    tasb_scores = model.encode_queries(QUERIES) @ model.encode_passages(PASSAGES).T
    np.testing.assert_allclose(scores, tasb_scores, rtol=1e-5, atol=1e-5)
    if similarity == "dot":
        # the paper's BERT_DOT: unnormalised vectors, so cosine would have given other numbers
        assert not np.allclose(scores, st.similarity(st.encode_query(QUERIES), st.encode_query(QUERIES))[:, :1])


def test_plain_sentence_transformers_truncates_queries_and_passages_where_tasb_does(saved_student):
    model, folder, _ = saved_student
    st = SentenceTransformer(str(folder))

    np.testing.assert_allclose(st.encode_query(QUERIES), model.encode_queries(QUERIES), atol=1e-5)
    np.testing.assert_allclose(st.encode_document(PASSAGES), model.encode_passages(PASSAGES), atol=1e-5)
    np.testing.assert_allclose(st.encode(PASSAGES), model.encode_passages(PASSAGES), atol=1e-5)
    # the first query is longer than 8 tokens: encode_query cut it, plain encode (passage length) did not
    assert not np.allclose(st.encode(QUERIES[:1]), st.encode_query(QUERIES[:1]), atol=1e-4)
    config = json.loads((folder / "sentence_bert_config.json").read_text())
    assert (config["query_length"], config["document_length"], st.max_seq_length) == (8, 24, 24)


def test_transformers_still_loads_the_folder(saved_student):
    model, folder, (pooling, normalize, _) = saved_student
    tokenizer = AutoTokenizer.from_pretrained(folder)
    features = tokenizer(PASSAGES, padding=True, truncation=True, return_tensors="pt")
    assert features["input_ids"].shape[1] == 24  # the tokenizer's model_max_length is the passage length
    with torch.no_grad():
        hidden = AutoModel.from_pretrained(folder)(**features).last_hidden_state
    if pooling == "cls" and not normalize:
        np.testing.assert_allclose(hidden[:, 0].numpy(), model.encode_passages(PASSAGES), atol=1e-5)


def test_lengths_come_back_from_the_sentence_transformers_config_alone(saved_student, tmp_path):
    _, folder, _ = saved_student
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(folder, copy)
    (copy / "tasb.json").unlink()  # a folder another tool rewrote, without tasb's own file
    reloaded = BertDot.load(str(copy))
    assert (reloaded.query_max_length, reloaded.passage_max_length) == (8, 24)


def test_student_card_names_base_model_similarity_lengths_and_no_recipe_when_none_was_given(saved_student):
    _, folder, (_, _, similarity) = saved_student
    card = (folder / "README.md").read_text()
    assert "Training with tasb" in card and "tasb recorded no training recipe" in card
    assert "(a local folder)" in card  # the tiny base model is a folder, with no hub id
    assert f'"similarity_fn_name": "{similarity}"' in card
    assert "Maximum Query Length:** 8 tokens" in card  # sentence-transformers' own card reads query_length
    assert ("Dot Product" if similarity == "dot" else "Cosine Similarity") in card


def _train_config(tiny_bert_dir, **overrides) -> TrainConfig:
    values = dict(
        output_dir="runs/x", teacher_scores="runs/teacher_scores.tsv", sampler="tas-balanced", clusters="runs/clusters.tsv",
        student=StudentConfig(model=str(tiny_bert_dir)), batch_size=8, steps=300, learning_rate=5e-5, max_minutes=10.0,
    )
    values.update(overrides)
    config = TrainConfig(**values)
    config.data.data = "../shared/data/scifact"
    return config


def test_a_recipe_card_names_data_teacher_sampler_losses_and_metrics(tiny_bert_dir, tmp_path):
    model = BertDot.load(str(tiny_bert_dir))
    model.base_model = "all-MiniLM-L6-v2"  # a packaged copy of a hub model: the card names its hub id
    config = _train_config(tiny_bert_dir)
    metrics = {"steps": 250, "stopped_by": "time", "final_loss": 0.42, "seconds": 560.1,
               "best_step": 200, "best_validation": 0.7943, "validation_metric": "nDCG@10"}
    info = student_card(config, metrics, training_queries=728, validation_queries=81)
    info["base_model"] = "all-MiniLM-L6-v2"
    model.save(tmp_path / "model", card=info)
    card = (tmp_path / "model" / "README.md").read_text()

    assert _front_matter(card)["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert "Base model:** [sentence-transformers/all-MiniLM-L6-v2](https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2)" in card
    for expected in [
        "`../shared/data/scifact`", "**split:** train", "**training queries:** 728",
        "score file `runs/teacher_scores.tsv`", "tas-balanced (1 cluster(s) per batch from `runs/clusters.tsv`, 10 margin ranges)",
        "1 × pairwise Margin-MSE", "2 × labels", "| steps | 250 of 300 (stopped by the time budget) |",
        "| batch size | 8 |", "| learning rate | 5e-05 |", "| validation (81 held-out queries) | nDCG@10 | 0.7943 |",
    ]:
        assert expected in card, expected
    with no_warnings():
        SentenceTransformer(str(tmp_path / "model"))


def test_metrics_measured_later_join_the_card_beside_earlier_ones(tiny_bert_dir, tmp_path):
    model = BertDot.load(str(tiny_bert_dir))
    model.save(tmp_path / "model", card={"metrics": {"validation": {"nDCG@10": 0.79}}})
    write_card(tmp_path / "model", {"metrics": {"test (300 queries)": {"nDCG@10": 0.72}}})
    card = (tmp_path / "model" / "README.md").read_text()

    assert "| validation | nDCG@10 | 0.79 |" in card and "| test (300 queries) | nDCG@10 | 0.72 |" in card
    assert card.count("Training with tasb") == 1 and "Framework Versions" in card  # sentence-transformers' part kept
    assert json.loads((tmp_path / "model" / "tasb.json").read_text())["card"]["metrics"]["test (300 queries)"] == {"nDCG@10": 0.72}
    BertDot.load(str(tmp_path / "model"))  # tasb.json still reads


def test_a_colbert_card_follows_the_class_its_folder_loads_as():
    meta = {"architecture": "ColBERT", "dim": 128, "query_max_length": 30, "passage_max_length": 200}
    info = {"base_model": "all-MiniLM-L6-v2"}
    legacy = render_card({**meta, "model_type": "SentenceTransformer"}, info)
    native = render_card({**meta, "model_type": "MultiVectorEncoder"}, info)

    assert "MultiVectorEncoder(path)" not in legacy and "MultiVectorEncoder(path)" in native
    assert _front_matter(native)["pipeline_tag"] == "feature-extraction" and "multi-vector" in _front_matter(native)["tags"]
    assert _front_matter(legacy)["base_model"] == "sentence-transformers/all-MiniLM-L6-v2"


def test_hub_ids_of_base_models():
    assert hub_id("all-MiniLM-L6-v2") == "sentence-transformers/all-MiniLM-L6-v2"
    assert hub_id("BAAI/bge-small-en-v1.5") == "BAAI/bge-small-en-v1.5"
    assert hub_id("runs/quickstart/student/model") is None  # three parts: only a folder
    assert hub_id(None) is None


@pytest.mark.slow
def test_a_training_run_leaves_its_recipe_and_validation_score_on_the_model_card(tiny_bert_dir, tmp_path):
    from tasb.training.trainer import train

    topics = ["cat", "river", "engine", "violin", "comet", "bread", "glacier", "tennis"]
    queries = {f"q{i}": f"what about the {topic} number {i}" for i, topic in enumerate(topics)}
    corpus = {f"p{i}": f"the {topic} number {i} is here" for i, topic in enumerate(topics)}
    corpus |= {f"n{i}": f"nothing on {topics[(i + 3) % 8]} at all" for i in range(8)}
    qrels = {f"q{i}": {f"p{i}": 1} for i in range(8)}
    scores = [ScoredPair(5.0, 0.5, f"q{i}", f"p{i}", f"n{i}") for i in range(8)]
    config = TrainConfig(
        output_dir=str(tmp_path / "run"), teacher_scores="scores.tsv", student=StudentConfig(model=str(tiny_bert_dir)),
        batch_size=2, steps=2, learning_rate=1e-4, bf16=False, sampler_process=False,
        validation=ValidationConfig(queries=2, every=1, rerank_depth=5),
    )
    folder = train(config, Dataset(corpus, queries, qrels, "synthetic"), scores)
    card = (folder / "model" / "README.md").read_text()

    for expected in ["**training queries:** 6", "**validation queries:** 2", "| steps | 2 |", "| sampler | random |",
                     "score file `scores.tsv`", "2 × labels: cross-entropy of the judged positive over the batch, scale 1 |", "| validation (2 held-out queries) | nDCG@10 |", f"`{tiny_bert_dir}` (a local folder)"]:
        assert expected in card, expected
    assert card.count("Training with tasb") == 1
    # model/ is a copy of best/ (hard links): rewriting its card leaves best/'s alone
    assert "tasb recorded no training recipe" in (folder / "best" / "README.md").read_text()
    with no_warnings():
        SentenceTransformer(str(folder / "model"))


# --- teachers ------------------------------------------------------------------------------------------------

TEACHER_QUERIES = {"q1": "how do bacteria resist antibiotics", "q2": "does coffee raise blood pressure"}
TEACHER_CORPUS = {
    "d1": PASSAGES[0], "d2": PASSAGES[1], "n1": "The Roman empire expanded.", "n2": "Volcanic soils are rich.",
    "n3": "Jazz emerged in New Orleans.", "n4": PASSAGES[2],
}
TEACHER_QRELS = {"q1": {"d1": 1}, "q2": {"d2": 1}}
TEACHER_RUN = {"q1": {"n1": 5.0, "d1": 4.0, "n2": 3.0}, "q2": {"n3": 5.0, "n4": 4.0, "d2": 3.0}}


@pytest.mark.slow
def test_a_trained_colbert_has_a_card_with_its_base_model_and_recipe(tiny_bert_dir, tmp_path):
    from tasb.training.colbert_trainer import train_colbert

    config = ColbertConfig(
        model=str(tiny_bert_dir), dim=16, steps=2, batch_size=2, num_negatives=2, learning_rate=1e-4, warmup_steps=0,
        bf16=False, query_max_length=12, passage_max_length=24, scoring_passage_max_length=None,
    )
    train_colbert(config, TEACHER_QUERIES, TEACHER_CORPUS, tmp_path, qrels=TEACHER_QRELS, run=TEACHER_RUN)
    card = (tmp_path / "model" / "README.md").read_text()

    assert _front_matter(card)["tags"][:2] == ["tasb", "colbert"]
    assert f"# ColBERT late-interaction model based on {tiny_bert_dir}" in card
    for expected in [f"`{tiny_bert_dir}` (a local folder)", "16-dim token vectors", "| projection | 16 dims |",
                     "listwise softmax cross-entropy", "| steps | 2 |", "**judged queries:** 2", "final loss"]:
        assert expected in card, expected
    assert ColBERT.load(str(tmp_path / "model")).dim == 16


@pytest.mark.slow
def test_a_trained_cross_encoder_has_a_card_and_loads_in_sentence_transformers_without_warnings(tiny_bert_dir, tmp_path):
    from tasb.training.cross_encoder_trainer import train_cross_encoder

    config = TeacherConfig(model=str(tiny_bert_dir), steps=2, batch_size=2, num_negatives=2, warmup_steps=0, max_length=48, bf16=False)
    teacher = train_cross_encoder(config, TEACHER_QUERIES, TEACHER_CORPUS, TEACHER_QRELS, TEACHER_RUN, tmp_path)
    card = (tmp_path / "model" / "README.md").read_text()

    front = _front_matter(card)
    assert (front["library_name"], front["pipeline_tag"]) == ("sentence-transformers", "text-ranking")
    assert "base_model" not in front  # a local folder has no hub id to link
    for expected in ["# BERT_CAT cross-encoder based on", "listwise: judged positive vs 2 negatives", "| steps | 2 |",
                     "**training queries:** 2", "48 tokens for query and passage together"]:
        assert expected in card, expected
    with no_warnings():
        cross_encoder = CrossEncoder(str(tmp_path / "model"))
    pairs = [(TEACHER_QUERIES["q1"], PASSAGES[0]), (TEACHER_QUERIES["q2"], PASSAGES[1])]
    np.testing.assert_allclose(
        cross_encoder.predict(pairs), teacher.score([q for q, _ in pairs], [p for _, p in pairs], bf16=False), atol=1e-4
    )


def test_a_folder_saved_without_card_info_still_gets_a_card(tiny_bert_dir, tmp_path):
    BertCat.load(str(tiny_bert_dir), max_length=32).save(tmp_path / "cross")
    ColBERT.load(str(tiny_bert_dir), dim=8).save(tmp_path / "colbert")
    for folder in ("cross", "colbert"):
        card = (tmp_path / folder / "README.md").read_text()
        assert "tasb recorded no training recipe" in card and "Base model:** not recorded" in card
