"""ColBERT folders are sentence-transformers MultiVectorEncoder folders, both ways: ``MultiVectorEncoder(path)``
loads a tasb ColBERT natively and scores exactly as tasb does; tasb loads a MultiVectorEncoder saved by
sentence-transformers (markers, punctuation skiplist, query expansion) and teaches and re-ranks with its scores;
and tasb's older ColBERT folders still load and score as they did."""

from __future__ import annotations

import json
import logging
import string
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import MultiVectorEncoder, SentenceTransformer
from sentence_transformers.base.modules import Dense, Normalize, Transformer
from sentence_transformers.multi_vector_encoder.modules import MultiVectorMask

from tasb.models.colbert import ColBERT, PassageTokenCache, maxsim
from tasb.retrieval.scorers import ColbertScorer, build_scorer
from tasb.training.colbert_teacher import ColbertTeacher

QUERIES = {
    "q1": "what do mitochondria do",
    "q2": "does vitamin d prevent fractures, really?",
    "q3": "mice",
}
CORPUS = {
    "p1": "Mitochondria produce most of the chemical energy needed to power the cell's biochemical reactions.",
    "p2": "A randomised trial of vitamin D supplements found no reduction in fractures (among older adults).",
    "p3": "Mice, rats & voles: rodents!",
    "p4": "protein " * 100,
}
Q, P = list(QUERIES.values()), list(CORPUS.values())
# every query with every passage, as parallel lists
PAIRS = [q for q in Q for _ in P], [p for _ in Q for p in P]


def _theirs(model: MultiVectorEncoder, queries: list[str], passages: list[str]) -> torch.Tensor:
    """sentence-transformers' own scores of every query against every passage."""
    return model.similarity(model.encode_query(queries), model.encode_document(passages))


def _logged(caplog) -> str:
    return "\n".join(record.getMessage() for record in caplog.records)


# --- a tasb ColBERT in sentence-transformers ------------------------------------------------------------------


@pytest.mark.parametrize("dim", [16, 0], ids=["projection", "no-projection"])
def test_multi_vector_encoder_loads_a_tasb_colbert_natively_and_scores_as_tasb(tiny_bert_dir, tmp_path, caplog, dim):
    colbert = ColBERT.load(str(tiny_bert_dir), dim=dim, query_max_length=12, passage_max_length=24)
    colbert.save(tmp_path / "model")
    with caplog.at_level(logging.INFO, logger="sentence_transformers"):
        theirs = MultiVectorEncoder(str(tmp_path / "model"))

    # loaded as saved: no conversion, no module added (a random projection on dim 0 was the old failure)
    assert "Convert" not in _logged(caplog) and "randomly-initialised" not in _logged(caplog)
    saved_modules = json.loads((tmp_path / "model" / "modules.json").read_text())
    expected = ["Transformer", *(["Dense"] if dim else []), "MultiVectorMask", "Normalize"]
    assert [type(m).__name__ for m in theirs] == expected == [m["type"].rsplit(".", 1)[-1] for m in saved_modules]
    assert theirs.get_embedding_dimension() == colbert.dim == (dim or 32)
    # as tasb uses them: its lengths, no marker, no skiplist, max-sim
    assert (theirs[0].query_length, theirs[0].document_length, theirs[0].query_expansion) == (12, 24, None)
    assert not any(theirs.prompts.values()) and theirs[-2].skiplist_words == []
    assert theirs.similarity_fn_name == "maxsim"

    # the same tokens: truncated to the same lengths (the long passage to 24, no query beyond 12)
    assert [len(v) for v in theirs.encode_document(P)] == [len(v) for v in colbert.encode_passages(P)]
    assert [len(v) for v in theirs.encode_query(Q)] == [len(v) for v in colbert.encode_queries(Q)]
    assert len(theirs.encode_document(P)[-1]) == 24
    # the same scores: fp32 exactly, through tasb's fp16 passage cache to fp16 precision, under bf16 loosely
    with torch.no_grad():
        torch.testing.assert_close(_theirs(theirs, Q, P), maxsim(colbert.query_tokens(Q), colbert.passage_tokens(P)), atol=1e-4, rtol=1e-5)
    expected_pairs = theirs.similarity_pairwise(theirs.encode_query(PAIRS[0]), theirs.encode_document(PAIRS[1])).numpy()
    np.testing.assert_allclose(colbert.score(*PAIRS, bf16=False), expected_pairs, atol=5e-3)
    np.testing.assert_allclose(colbert.score(*PAIRS, bf16=True), expected_pairs, atol=5e-2)


def test_a_tasb_colbert_folder_is_saved_once_and_reloads_with_its_projection_and_lengths(tiny_bert_dir, tmp_path):
    ColBERT.load(str(tiny_bert_dir), dim=16, query_max_length=12, passage_max_length=24).save(tmp_path / "model")
    reloaded = ColBERT.load(str(tmp_path / "model"))

    assert isinstance(reloaded.encoder, MultiVectorEncoder)
    assert (reloaded.dim, reloaded.query_max_length, reloaded.passage_max_length) == (16, 12, 24)
    # one Normalize and one mask, not a second pair stacked on the saved ones
    assert [type(m).__name__ for m in reloaded.encoder] == ["Transformer", "Dense", "MultiVectorMask", "Normalize"]
    meta = json.loads((tmp_path / "model" / "tasb.json").read_text())
    assert (meta["architecture"], meta["dim"], meta["query_max_length"], meta["passage_max_length"]) == ("ColBERT", 16, 12, 24)


# --- a sentence-transformers MultiVectorEncoder in tasb -------------------------------------------------------


def _sentence_transformers_colbert(tiny_bert_dir: Path, folder: Path, expansion: bool) -> Path:
    """A ColBERT built and saved by sentence-transformers alone: [Q]/[D] markers, the punctuation skiplist on
    documents, its own lengths and projection, and optionally ColBERT's query expansion."""
    torch.manual_seed(3)
    transformer = Transformer(
        str(tiny_bert_dir), query_length=None if expansion else 10, document_length=20,
        query_expansion={"strategy": "fixed", "attend": False, "length": 16} if expansion else None,
    )
    model = MultiVectorEncoder(
        modules=[
            transformer,
            Dense(32, 8, bias=False, activation_function=torch.nn.Identity(), module_input_name="token_embeddings"),
            MultiVectorMask(skiplist_words=list(string.punctuation)),
            Normalize(module_input_name="token_embeddings"),
        ],
        prompts={"query": "[Q] ", "document": "[D] "},
    )
    model.save(str(folder))
    return folder


@pytest.mark.parametrize("expansion", [False, True], ids=["plain", "query-expansion"])
def test_tasb_teaches_and_reranks_with_a_multi_vector_encoder_saved_by_sentence_transformers(tiny_bert_dir, tmp_path, expansion):
    folder = _sentence_transformers_colbert(tiny_bert_dir, tmp_path / "st-colbert", expansion)
    theirs = MultiVectorEncoder(str(folder))
    expected = _theirs(theirs, Q, P)

    colbert = ColBERT.for_scoring(str(folder))
    # kept as saved: its projection (a scorer gives other models none), markers, skiplist and lengths
    assert (colbert.dim, colbert.passage_max_length, colbert.query_max_length) == (8, 20, 16 if expansion else 10)
    assert (colbert.prompt("query"), colbert.prompt("document")) == ("[Q] ", "[D] ")
    # the skiplist drops the punctuation of documents, not of queries
    unmasked = colbert.tokenizer(["[D] " + CORPUS["p3"]], truncation=True, max_length=20)["input_ids"][0]
    assert len(colbert.encode_passages([CORPUS["p3"]], bf16=False)[0]) < len(unmasked)
    assert len(colbert.encode_queries([QUERIES["q2"]], bf16=False)[0]) == len(theirs.encode_query(QUERIES["q2"]))

    # a re-ranker: colbert:PATH, through the fp16 passage cache
    scorer = build_scorer([f"colbert:{folder}"], None, CORPUS, bf16=False)
    assert isinstance(scorer, ColbertScorer)
    reranked = scorer.score({qid: list(CORPUS) for qid in QUERIES}, QUERIES, CORPUS)
    np.testing.assert_allclose([[reranked[q][p] for p in CORPUS] for q in QUERIES], expected.numpy(), atol=5e-3)

    # the in-batch teacher: on the fly (fp32) and from a passage cache (fp16)
    teacher = ColbertTeacher(ColBERT.load(str(folder)), CORPUS, bf16=False)
    torch.testing.assert_close(teacher.scores(Q, list(CORPUS)), expected, atol=1e-4, rtol=1e-5)
    cache = PassageTokenCache(teacher.model, bf16=False, progress=None)
    cache.add(list(CORPUS), CORPUS)
    cached = ColbertTeacher(teacher.model, CORPUS, cache, scale=2.0, bf16=False)
    torch.testing.assert_close(cached.scores(Q, list(CORPUS)), 2.0 * expected, atol=1e-2, rtol=0)
    # the cache's size estimate counts the marker and is an upper bound once the skiplist drops tokens
    assert cache.estimate_bytes(P) >= cache.nbytes


def test_a_multi_vector_encoder_resaved_by_tasb_keeps_its_markers_skiplist_and_lengths(tiny_bert_dir, tmp_path):
    folder = _sentence_transformers_colbert(tiny_bert_dir, tmp_path / "st-colbert", expansion=True)
    ColBERT.load(str(folder)).save(tmp_path / "resaved")

    theirs, resaved = MultiVectorEncoder(str(folder)), MultiVectorEncoder(str(tmp_path / "resaved"))
    assert resaved.prompts == theirs.prompts and resaved[-2].skiplist_words == list(string.punctuation)
    assert resaved[0].query_expansion == theirs[0].query_expansion and resaved[0].document_length == 20
    torch.testing.assert_close(_theirs(resaved, Q, P), _theirs(theirs, Q, P))


# --- tasb's older ColBERT folders -----------------------------------------------------------------------------


def _save_legacy_colbert(tiny_bert_dir: Path, folder: Path, dim: int, query_max_length: int, passage_max_length: int,
                         seed: int = 42) -> SentenceTransformer:
    """A ColBERT folder as tasb wrote it before its folders were MultiVectorEncoder folders (this is the former
    ``ColBERT.save`` of the former ``_new_colbert``): a plain SentenceTransformer of a Transformer and, for
    dim > 0, a bias-free Dense on token_embeddings; lengths only in tasb.json. Returns the model it saved."""
    transformer = Transformer(str(tiny_bert_dir))
    modules: list[torch.nn.Module] = [transformer]
    if dim:
        generator = torch.Generator().manual_seed(seed)
        hidden = transformer.get_embedding_dimension()
        weight = torch.empty(dim, hidden).uniform_(-hidden**-0.5, hidden**-0.5, generator=generator)
        modules.append(
            Dense(hidden, dim, bias=False, activation_function=torch.nn.Identity(), init_weight=weight,
                  module_input_name="token_embeddings", module_output_name="token_embeddings")
        )
    encoder = SentenceTransformer(modules=modules, device="cpu")
    encoder.eval()
    encoder.max_seq_length = passage_max_length
    encoder.save(str(folder), create_model_card=False)
    meta = {"architecture": "ColBERT", "dim": dim or transformer.get_embedding_dimension(),
            "similarity": "maxsim-cosine", "query_max_length": query_max_length, "passage_max_length": passage_max_length}
    (folder / "tasb.json").write_text(json.dumps(meta, indent=2) + "\n", encoding="utf-8")
    return encoder


def _legacy_scores(encoder: SentenceTransformer, queries: list[str], passages: list[str], query_max_length: int,
                   passage_max_length: int) -> torch.Tensor:
    """How tasb scored before: its own tokenizer call, the encoder, fp32 normalisation, max-sim by einsum."""

    def tokens(texts: list[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        features = encoder.tokenizer(texts, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        with torch.no_grad():
            out = encoder(dict(features))
        mask = features["attention_mask"]
        return F.normalize(out["token_embeddings"].float(), dim=-1) * mask.unsqueeze(-1), mask

    q, _ = tokens(queries, query_max_length)
    p, p_mask = tokens(passages, passage_max_length)
    similarity = torch.einsum("qid,pjd->qpij", q, p).masked_fill(~p_mask.bool()[None, :, None, :], -1e4)
    return similarity.max(-1).values.sum(-1)


@pytest.mark.parametrize("dim", [16, 0], ids=["projection", "no-projection"])
def test_an_older_tasb_colbert_folder_still_loads_and_scores_the_same(tiny_bert_dir, tmp_path, dim):
    legacy = _save_legacy_colbert(tiny_bert_dir, tmp_path / "old", dim, query_max_length=12, passage_max_length=24)
    before = _legacy_scores(legacy, Q, P, 12, 24)
    assert not (tmp_path / "old" / "config_sentence_transformers.json").read_text().count("MultiVectorEncoder")

    colbert = ColBERT.load(str(tmp_path / "old"))
    assert (colbert.dim, colbert.query_max_length, colbert.passage_max_length) == (dim or 32, 12, 24)
    assert ColBERT.for_scoring(str(tmp_path / "old")).dim == (dim or 32)  # its projection, or none: never a new one
    with torch.no_grad():
        torch.testing.assert_close(maxsim(colbert.query_tokens(Q), colbert.passage_tokens(P)), before, atol=1e-4, rtol=1e-5)
    reranked = build_scorer([f"colbert:{tmp_path / 'old'}"], None, CORPUS, bf16=False).score(
        {qid: list(CORPUS) for qid in QUERIES}, QUERIES, CORPUS
    )
    np.testing.assert_allclose([[reranked[q][p] for p in CORPUS] for q in QUERIES], before.numpy(), atol=5e-3)

    # saving it again migrates it: a native MultiVectorEncoder folder with the same scores
    colbert.save(tmp_path / "migrated")
    theirs = MultiVectorEncoder(str(tmp_path / "migrated"))
    assert [type(m).__name__ for m in theirs][-2:] == ["MultiVectorMask", "Normalize"]
    torch.testing.assert_close(_theirs(theirs, Q, P), before, atol=1e-4, rtol=1e-5)
