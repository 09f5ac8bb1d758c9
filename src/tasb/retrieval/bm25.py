"""BM25 first-stage retrieval with bm25s (pyserini needs Java 21, which these machines lack)."""

from __future__ import annotations

import bm25s
import numpy as np
import Stemmer

from tasb.data.records import Corpus, Queries, Run
from tasb.errors import InputError

# bm25s' defaults; with English stemming they give SciFact test nDCG@10 .686 (BEIR's Anserini figure is .665).
# Anserini's MS MARCO passage setting is k1=0.9, b=0.4.
DEFAULT_K1 = 1.5
DEFAULT_B = 0.75
# bm25s' progress bars for tokenising, indexing and retrieving from this many texts on: MS MARCO's 8.8M passages
# take minutes, SciFact's 5K a second, which a bar would only clutter
PROGRESS_FROM = 100_000


class BM25:
    """An in-memory BM25 index over a corpus (English stopwords removed, Snowball-stemmed)."""

    def __init__(self, corpus: Corpus, k1: float = DEFAULT_K1, b: float = DEFAULT_B):
        if not corpus:
            raise InputError(None, "a non-empty corpus for BM25")
        self._stemmer = Stemmer.Stemmer("english")
        self.pids = list(corpus)
        self._row = {pid: row for row, pid in enumerate(self.pids)}
        progress = len(self.pids) >= PROGRESS_FROM
        tokens = self._tokenize([corpus[p] for p in self.pids], progress)
        # bm25s cannot index a corpus without a single term (empty passages, stopwords only): nothing can match
        self._retriever = bm25s.BM25(k1=k1, b=b) if tokens.vocab else None
        if self._retriever is not None:
            self._retriever.index(tokens, show_progress=progress)

    def _tokenize(self, texts: list[str], progress: bool = False):
        return bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer, show_progress=progress)

    def search(self, queries: Queries, k: int = 1000) -> Run:
        """Top-``k`` passages per query; passages sharing no term with the query are not retrieved."""
        qids = list(queries)
        if self._retriever is None:
            return {qid: {} for qid in qids}
        progress = len(qids) * len(self.pids) >= PROGRESS_FROM * 1_000
        docs, scores = self._retriever.retrieve(
            self._tokenize([queries[q] for q in qids], progress), k=min(k, len(self.pids)), show_progress=progress, n_threads=0
        )
        # bm25s fills the list with zero-score passages when fewer match
        return {
            qid: {self.pids[int(d)]: float(s) for d, s in zip(row_docs, row_scores) if s > 0}
            for qid, row_docs, row_scores in zip(qids, docs, scores)
        }

    def score(self, queries: Queries, wanted: dict[str, list[str]]) -> dict[str, dict[str, float]]:
        """BM25 scores of given passages for each query, whether or not they rank in its top-k."""
        out = {}
        for qid, pids in wanted.items():
            tokens = self._tokenize_one(queries[qid])
            # a query of stopwords or punctuation only matches nothing (bm25s cannot score an empty query)
            matchable = tokens and self._retriever is not None
            all_scores = np.asarray(self._retriever.get_scores(tokens)) if matchable else np.zeros(len(self.pids))
            out[qid] = {pid: float(all_scores[self._row[pid]]) for pid in pids}
        return out

    def _tokenize_one(self, text: str) -> list[str]:
        # get_scores takes the query's tokens as strings
        tokens = self._tokenize([text])
        vocab = {index: token for token, index in tokens.vocab.items()}
        return [vocab[i] for i in tokens.ids[0]]


def bm25_search(corpus: Corpus, queries: Queries, k: int = 1000, k1: float = DEFAULT_K1, b: float = DEFAULT_B) -> Run:
    """Index ``corpus`` and return the top-``k`` run for ``queries``."""
    return BM25(corpus, k1=k1, b=b).search(queries, k)
