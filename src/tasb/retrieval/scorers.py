"""Teachers as scorers of (query, passage) candidates: cross-encoder, BM25, bi-encoder, and ensembles.

Any scorer can re-rank a run and write the paper's pairwise score file, so a teacher is judged by
re-ranking before it teaches. Ensembles average per-query z-normalised scores (tasb.data.ensemble), the
paper's recipe for combining teachers on different scales.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Callable, Protocol, Sequence

import numpy as np

from tasb.data.records import Corpus, Pair, Queries, ScoredPair
from tasb.data.scores import ensemble
from tasb.errors import InputError
from tasb.models.colbert import ColBERT, PassageTokenCache, maxsim, pad_token_vectors
from tasb.models.cross_encoder import BertCat
from tasb.models.student import BertDot
from tasb.retrieval.bm25 import BM25

Wanted = dict[str, list[str]]  # qid -> pids to score
Scores = dict[str, dict[str, float]]  # qid -> pid -> score
# parallel lists of query and passage texts → one score per pair
ScoreFn = Callable[[list[str], list[str]], np.ndarray]


class Scorer(Protocol):
    name: str

    def score(self, wanted: Wanted, queries: Queries, corpus: Corpus) -> Scores: ...


def score_query_passages(score_fn: ScoreFn, wanted: Wanted, queries: Queries, corpus: Corpus) -> Scores:
    """Score each query with each of its wanted passages, every distinct pair once, in a single ``score_fn`` call.

    One call lets the scorer batch and length-sort across queries; a query or passage without text is
    refused naming its id.
    """
    keys = list(dict.fromkeys((qid, pid) for qid, pids in wanted.items() for pid in pids))
    query_texts = [_text(queries, qid, "query") for qid, _ in keys]
    passage_texts = [_text(corpus, pid, "passage") for _, pid in keys]
    scores = np.asarray(score_fn(query_texts, passage_texts), dtype=np.float64).reshape(-1) if keys else np.empty(0)
    if len(scores) != len(keys):
        raise ValueError(f"score function returned {len(scores)} scores for {len(keys)} pairs")
    out: dict[str, dict[str, float]] = {qid: {} for qid in wanted}
    for (qid, pid), score in zip(keys, scores.tolist()):
        out[qid][pid] = score
    return out


@dataclass
class TextPairScorer:
    """Any function of parallel (query texts, passage texts) → scores, such as ``BertCat.score``."""

    score_fn: ScoreFn
    name: str = "pairs"

    def score(self, wanted: Wanted, queries: Queries, corpus: Corpus) -> Scores:
        return score_query_passages(self.score_fn, wanted, queries, corpus)


def cross_encoder_scorer(model: BertCat, batch_size: int = 32, bf16: bool = True, name: str = "cross-encoder") -> TextPairScorer:
    return TextPairScorer(partial(model.score, batch_size=batch_size, bf16=bf16, progress=name), name=name)


def _text(texts: dict[str, str], key: str, kind: str) -> str:
    try:
        return texts[key]
    except KeyError:
        raise InputError(None, f"a text for every {kind} id to score", f"{kind} id {key} with no text") from None


@dataclass
class BM25Scorer:
    index: BM25
    name: str = "bm25"

    def score(self, wanted: Wanted, queries: Queries, corpus: Corpus) -> Scores:
        return self.index.score(queries, wanted)


@dataclass
class DotScorer:
    """A bi-encoder; ``passage_vectors`` (pid -> vector, e.g. an index's rows) spares re-encoding the corpus."""

    model: BertDot
    bf16: bool = True
    passage_vectors: dict[str, np.ndarray] | None = None
    name: str = "bi-encoder"

    def score(self, wanted: Wanted, queries: Queries, corpus: Corpus) -> Scores:
        qids = list(wanted)
        query_vectors = self.model.encode_queries([queries[q] for q in qids], bf16=self.bf16)
        vectors = self._passage_vectors({pid for pids in wanted.values() for pid in pids}, corpus)
        return {
            qid: {pid: float(query_vectors[row] @ vectors[pid]) for pid in wanted[qid]}
            for row, qid in enumerate(qids)
        }

    def _passage_vectors(self, pids: set[str], corpus: Corpus) -> dict[str, np.ndarray]:
        known = self.passage_vectors or {}
        missing = sorted(pids - set(known))
        if missing:
            encoded = self.model.encode_passages([corpus[p] for p in missing], bf16=self.bf16, progress=self.name)
            known = {**known, **dict(zip(missing, encoded))}
        return known


@dataclass
class EnsembleScorer:
    members: list[Scorer]
    weights: list[float]
    name: str = "ensemble"

    def score(self, wanted: Wanted, queries: Queries, corpus: Corpus) -> Scores:
        return ensemble([m.score(wanted, queries, corpus) for m in self.members], self.weights)


@dataclass
class ColbertScorer:
    """Max-sim scores; each passage is encoded once into ``cache`` and reused by every query and later call.

    ``reuse=False`` encodes each call's passages afresh, as a cross-encoder would: what a search service
    pays per query, with memory that does not grow with the passages seen.
    """

    model: ColBERT
    cache: PassageTokenCache
    name: str = "colbert"
    reuse: bool = True

    def score(self, wanted: Wanted, queries: Queries, corpus: Corpus) -> Scores:
        qids = list(wanted)
        for qid in qids:
            _text(queries, qid, "query")
        for pid in {pid for pids in wanted.values() for pid in pids}:
            _text(corpus, pid, "passage")
        cache = self.cache if self.reuse else PassageTokenCache(self.model, self.cache.bf16, progress=None)
        cache.add([pid for pids in wanted.values() for pid in pids], corpus)
        query_vectors = self.model.encode_queries([queries[qid] for qid in qids], bf16=cache.bf16)
        out: Scores = {}
        for qid, vectors in zip(qids, query_vectors):
            pids = list(dict.fromkeys(wanted[qid]))
            if not pids:
                out[qid] = {}
                continue
            query = pad_token_vectors([vectors]).to(self.model.device)
            scores = maxsim(query, pad_token_vectors([cache.get(pid) for pid in pids]))[0]
            out[qid] = dict(zip(pids, scores.tolist()))
        return out


def parse_teacher_spec(spec: str) -> tuple[str, str]:
    """``bm25``, ``dot:MODEL`` (bi-encoder), ``colbert:MODEL`` or ``[ce:]MODEL`` (cross-encoder) → (kind, model)."""
    if spec == "bm25":
        return "bm25", ""
    kind, sep, model = spec.partition(":")
    if sep and kind in ("ce", "dot", "colbert"):
        if not model:
            raise InputError("scorers", f"a model after '{kind}:'", spec)
        return kind, model
    return "ce", spec


def build_scorer(
    specs: list[str],
    weights: list[float] | None,
    corpus: Corpus,
    max_length: int | None = None,
    bf16: bool = True,
    reuse_passages: bool = True,
    device: str = "cpu",
) -> Scorer:
    """One scorer, or a weighted ensemble, from teacher or re-ranker ``specs`` (see :func:`parse_teacher_spec`) and their
    ``weights``; the one place a spec becomes a scorer (``reuse_passages``: see :class:`ColbertScorer`), its models
    loaded on ``device``."""
    if not specs:
        raise InputError("scorers", "at least one scorer (a cross-encoder folder, bm25, dot:MODEL or colbert:MODEL)")
    weights = weights or [1.0] * len(specs)
    if len(weights) != len(specs):
        raise InputError("weights", f"one weight per scorer spec ({len(specs)})", str(len(weights)))
    members: list[Scorer] = []
    for spec in specs:
        kind, model = parse_teacher_spec(spec)
        if kind == "bm25":
            members.append(BM25Scorer(BM25(corpus)))
        elif kind == "dot":
            members.append(DotScorer(BertDot.load(model, device=device), bf16=bf16, name=f"dot:{model}"))
        elif kind == "colbert":
            colbert = ColBERT.for_scoring(model, device)
            members.append(ColbertScorer(colbert, PassageTokenCache(colbert, bf16), name=f"colbert:{model}", reuse=reuse_passages))
        else:
            members.append(cross_encoder_scorer(BertCat.load(model, max_length=max_length, device=device), bf16=bf16, name=f"ce:{model}"))
    return members[0] if len(members) == 1 else EnsembleScorer(members, weights)


def score_pairs(scorer: Scorer, pairs: Sequence[Pair], queries: Queries, corpus: Corpus) -> list[ScoredPair]:
    """The paper's score file rows, in the pairs' order: every distinct (query, passage) scored once."""
    wanted: dict[str, dict[str, None]] = {}
    for pair in pairs:
        wanted.setdefault(pair.qid, {}).update({pair.pid_pos: None, pair.pid_neg: None})
    scores = scorer.score({qid: list(pids) for qid, pids in wanted.items()}, queries, corpus)
    return [ScoredPair(scores[p.qid][p.pid_pos], scores[p.qid][p.pid_neg], *p) for p in pairs]
