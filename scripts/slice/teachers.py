"""A slice run's teacher members (ColBERT, BM25, its baseline, the initial student) and their ensembles over a
weight grid, on the research queries' candidates (the trainer's protocol) or, with --own, on the run's own
held-out queries. Member scores are kept in OUT so a rerun only re-weights.

Usage: python scripts/slice/teachers.py QS_RUN OUT.json [--own]   (prints the ranking; last line: one JSON object)
"""

import json
import sys
from pathlib import Path

from common import slice_run
from teacher_weights import labelled_grid, print_ranking

from tasb.apps.quickstart import held_out_validation
from tasb.evaluation import evaluate
from tasb.fsutil import write_json
from tasb.models.colbert import ColBERT, PassageTokenCache
from tasb.models.student import BertDot
from tasb.retrieval.bm25 import BM25
from tasb.retrieval.scorers import BM25Scorer, ColbertScorer, DotScorer
from tasb.training.validation import WEIGHT_GRID



def main():
    qs, cache = Path(sys.argv[1]), Path(sys.argv[2])
    config, train_set, validation = slice_run(qs)
    if "--own" in sys.argv:
        validation = held_out_validation(config, train_set)
    if cache.exists():
        scores = json.loads(cache.read_text())
    else:
        colbert = ColBERT.load(str(qs / "colbert" / "model"))
        members = {
            "colbert": ColbertScorer(colbert, PassageTokenCache(colbert, bf16=True)),
            "bm25": BM25Scorer(BM25(train_set.corpus)),
            "baseline": DotScorer(BertDot.load(str(qs / "baseline" / "model")), name="baseline"),
            "initial": DotScorer(BertDot.load(config.student.model), name="initial"),
        }
        scores = {name: m.score(validation.candidates, validation.queries, validation.corpus) for name, m in members.items()}
        write_json(cache, scores)

    members = {name: scores[name] for name in ("colbert", "bm25", "baseline")}
    found = labelled_grid(members, validation.qrels, WEIGHT_GRID)
    found["initial"] = evaluate(scores["initial"], validation.qrels)["nDCG@10"]
    print_ranking(found, 15)


if __name__ == "__main__":
    main()
