"""Plain record types shared by every stage. Ids are strings everywhere (BEIR ids are not numeric)."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

Corpus = dict[str, str]  # pid -> passage text (title and body joined)
Queries = dict[str, str]  # qid -> query text
Qrels = dict[str, dict[str, int]]  # qid -> pid -> graded label
Run = dict[str, dict[str, float]]  # qid -> pid -> score


class Pair(NamedTuple):
    """A training pair: a judged positive and a negative passage for one query."""

    qid: str
    pid_pos: str
    pid_neg: str


class ScoredPair(NamedTuple):
    """One line of the paper's teacher score file: ``score_pos score_neg qid pid_pos pid_neg``."""

    score_pos: float
    score_neg: float
    qid: str
    pid_pos: str
    pid_neg: str

    @property
    def margin(self) -> float:
        return self.score_pos - self.score_neg


@dataclasses.dataclass
class Dataset:
    """Corpus, queries and judgments of one split, with where they came from (for error messages)."""

    corpus: Corpus
    queries: Queries
    qrels: Qrels
    source: str = ""

    def judged_queries(self) -> Queries:
        """The queries that have at least one judgment with a positive label."""
        return {qid: text for qid, text in self.queries.items() if any(g > 0 for g in self.qrels.get(qid, {}).values())}
