"""ColBERT: max-sim is eq. 3 with padding that can never win, a saved teacher loads elsewhere unchanged,
scoring keeps input order, and encoding/saving never leaves dropout on."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sentence_transformers import MultiVectorEncoder

from tasb.errors import InputError
from tasb.models.colbert import ColBERT, TokenVectors, maxsim, maxsim_pairs, pad_token_vectors

QUERIES = ["what do mitochondria do", "does vitamin d prevent fractures", "mice"]
PASSAGES = [
    "Mitochondria produce most of the chemical energy needed to power the cell's biochemical reactions.",
    "A randomised trial of vitamin D supplements found no reduction in fractures among older adults.",
    "Mice",
]


@pytest.fixture(scope="module")
def colbert(tiny_bert_dir) -> ColBERT:
    return ColBERT.load(str(tiny_bert_dir), dim=16, query_max_length=12, passage_max_length=24)


def _ragged(lengths: list[int], longest: int, dim: int, fill: str, generator: torch.Generator) -> TokenVectors:
    vectors = F.normalize(torch.randn(len(lengths), longest, dim, generator=generator), dim=-1)
    mask = torch.zeros(len(lengths), longest, dtype=torch.long)
    for i, length in enumerate(lengths):
        mask[i, :length] = 1
    # large junk would win every max (and swell every sum) if it were not masked; zeros would win any
    # max whose real similarities are all negative
    pad = 10 * torch.randn(vectors.shape, generator=generator) if fill == "junk" else torch.zeros_like(vectors)
    return TokenVectors(torch.where(mask.bool()[..., None], vectors, pad), mask)


def _token_maxes(queries: TokenVectors, q: int, passages: TokenVectors, p: int) -> list[float]:
    """Eq. 3 term by term, in plain Python: per real query token, its best dot product over real passage tokens."""
    q_len, p_len = int(queries.mask[q].sum()), int(passages.mask[p].sum())
    return [
        max(sum(float(a) * float(b) for a, b in zip(queries.vectors[q, i], passages.vectors[p, j])) for j in range(p_len))
        for i in range(q_len)
    ]


@pytest.mark.parametrize("fill", ["junk", "zeros"])
def test_maxsim_is_eq3_over_real_tokens_only(fill):
    generator = torch.Generator().manual_seed(0)
    queries = _ragged([5, 2, 3], longest=5, dim=8, fill=fill, generator=generator)
    # a one-token passage: about half the query tokens only have a negative similarity to choose from
    passages = _ragged([6, 1, 4, 2], longest=6, dim=8, fill=fill, generator=generator)

    token_maxes = [[_token_maxes(queries, q, passages, p) for p in range(4)] for q in range(3)]
    expected = torch.tensor([[sum(t) for t in row] for row in token_maxes])
    assert min(m for row in token_maxes for t in row for m in t) < 0  # the case padding would get wrong

    torch.testing.assert_close(maxsim(queries, passages), expected, atol=1e-5, rtol=1e-5)
    three = TokenVectors(passages.vectors[:3], passages.mask[:3])
    torch.testing.assert_close(maxsim_pairs(queries, three), expected.diagonal(), atol=1e-5, rtol=1e-5)


def test_maxsim_pairs_refuses_mismatched_counts():
    vectors = TokenVectors(torch.zeros(2, 3, 4), torch.ones(2, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="one passage per query"):
        maxsim_pairs(vectors, TokenVectors(vectors.vectors[:1], vectors.mask[:1]))


def test_pad_token_vectors_round_trips_ragged_parts():
    parts = [torch.randn(n, 4).to(torch.float16) for n in (3, 1, 5)]
    padded = pad_token_vectors(parts)

    assert padded.vectors.shape == (3, 5, 4) and padded.vectors.dtype == torch.float16
    assert padded.mask.sum(-1).tolist() == [3, 1, 5]
    assert not padded.vectors[~padded.mask.bool()].any()
    for row, part in enumerate(parts):
        assert torch.equal(padded.vectors[row][padded.mask[row].bool()], part)


def test_token_vectors_are_projected_and_unit_length_with_zero_padding(colbert):
    with torch.no_grad():
        tokens = colbert.query_tokens(["short", "a much longer query about several things"])

    norms = tokens.vectors.norm(dim=-1)
    assert colbert.dim == 16 and tokens.vectors.shape[-1] == 16
    assert not tokens.mask.all()  # the short query is padded
    torch.testing.assert_close(norms[tokens.mask.bool()], torch.ones(int(tokens.mask.sum())))
    assert not norms[~tokens.mask.bool()].any()


def test_dim_zero_keeps_the_encoders_token_space(tiny_bert_dir):
    model = ColBERT.load(str(tiny_bert_dir), dim=0)
    with torch.no_grad():
        tokens = model.query_tokens(QUERIES)
    assert model.dim == 32 and tokens.vectors.shape[-1] == 32


def test_a_scorer_keeps_a_saved_projection_and_gives_other_models_none(colbert, tiny_bert_dir, tmp_path):
    colbert.save(tmp_path / "model")
    assert ColBERT.for_scoring(str(tmp_path / "model")).dim == 16
    # a fresh projection would be random: a plain encoder scores in its own token space
    assert ColBERT.for_scoring(str(tiny_bert_dir)).dim == 32


@pytest.mark.slow
def test_projection_is_drawn_from_the_seed(tiny_bert_dir):
    def vectors(seed: int) -> torch.Tensor:
        with torch.no_grad():
            return ColBERT.load(str(tiny_bert_dir), dim=16, seed=seed).query_tokens(QUERIES).vectors

    assert torch.equal(vectors(1), vectors(1))
    assert not torch.allclose(vectors(1), vectors(2))


@pytest.mark.slow
def test_save_and_load_give_identical_scores_and_keep_dim_and_lengths(colbert, tmp_path):
    colbert.save(tmp_path / "model")
    reloaded = ColBERT.load(str(tmp_path / "model"))

    np.testing.assert_array_equal(reloaded.score(QUERIES, PASSAGES, bf16=False), colbert.score(QUERIES, PASSAGES, bf16=False))
    assert (reloaded.dim, reloaded.query_max_length, reloaded.passage_max_length) == (16, 12, 24)
    meta = json.loads((tmp_path / "model" / "tasb.json").read_text())
    assert meta["architecture"] == "ColBERT" and meta["dim"] == 16
    # asking for the dim it already has is fine; asking for another would silently drop its projection
    assert ColBERT.load(str(tmp_path / "model"), dim=16).dim == 16
    with pytest.raises(InputError, match="16 dims"):
        ColBERT.load(str(tmp_path / "model"), dim=32)


@pytest.mark.slow
def test_saved_folder_gives_the_same_token_vectors_in_sentence_transformers(colbert, tmp_path):
    # a saved ColBERT is a MultiVectorEncoder folder (tests/models/test_colbert_interop.py: its scores); a
    # plain SentenceTransformer would convert it, so read it back as what it is
    colbert.save(tmp_path / "model")
    theirs = MultiVectorEncoder(str(tmp_path / "model")).encode_document(PASSAGES)

    features = colbert.tokenize(PASSAGES)
    with torch.no_grad():
        ours = colbert.tokens(features)
    for row, vectors in enumerate(theirs):
        real = features["attention_mask"][row].bool()
        assert len(vectors) == int(real.sum())
        # normalised in the folder, by its token-level Normalize module
        torch.testing.assert_close(vectors, ours.vectors[row][real], atol=1e-5, rtol=1e-5)


def test_score_keeps_input_order_and_allows_duplicate_texts(colbert):
    queries = [QUERIES[0], QUERIES[1], QUERIES[0], QUERIES[2], QUERIES[0]]
    passages = [PASSAGES[0], PASSAGES[2], PASSAGES[0], PASSAGES[1], PASSAGES[2]]

    scores = colbert.score(queries, passages, bf16=False)
    with torch.no_grad():
        direct = maxsim_pairs(colbert.query_tokens(queries), colbert.passage_tokens(passages)).numpy()
    reversed_input = colbert.score(queries[::-1], passages[::-1], bf16=False)

    # score goes through the fp16 cache format, the direct path stays fp32
    np.testing.assert_allclose(scores, direct, atol=5e-3)
    np.testing.assert_array_equal(reversed_input[::-1], scores)
    assert scores[0] == scores[2]
    with pytest.raises(ValueError, match="one passage per query"):
        colbert.score(queries, passages[:2])


def test_encode_passages_returns_unpadded_fp16_vectors_in_input_order(colbert):
    texts = PASSAGES + ["protein " * 100]
    encoded = colbert.encode_passages(texts, batch_size=2, bf16=False)

    lengths = [len(ids) for ids in colbert.tokenizer(texts, truncation=True, max_length=24)["input_ids"]]
    assert [len(v) for v in encoded] == lengths and lengths[-1] == 24
    assert all(v.dtype == torch.float16 and v.shape[-1] == 16 for v in encoded)
    for text, vectors in zip(texts, encoded):
        torch.testing.assert_close(colbert.encode_passages([text], bf16=False)[0], vectors, atol=1e-3, rtol=1e-3)


def test_encoding_scoring_or_saving_never_turns_dropout_on(tiny_bert_dir, tmp_path):
    # a freshly loaded model must be deterministic, and stay so after calls that switch to eval and back
    model = ColBERT.load(str(tiny_bert_dir), dim=16)
    with torch.no_grad():
        before = model.query_tokens(QUERIES).vectors
    model.score(QUERIES, PASSAGES, bf16=False)
    model.save(tmp_path / "model")
    with torch.no_grad():
        after = [model.query_tokens(QUERIES).vectors for _ in range(2)]

    assert torch.equal(after[0], before) and torch.equal(after[1], before)
