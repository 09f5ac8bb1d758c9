"""Choose a teacher ensemble's weights on held-out validation queries, never on test.

    python scripts/teacher_weights.py --data ../shared/data/scifact --run runs/quickstart \
        --dense baseline=runs/quickstart/baseline/model

Re-ranks the candidates of the quickstart's held-out queries (``RUN/validation_qids.txt``, judged training queries
no teacher or student trained on) with BM25, the run's ColBERT and each ``--dense`` bi-encoder, then with every
weighted ensemble of them (per-query z-scores, weights from ``--grid``), and prints the 25 best and one JSON object
of every nDCG@10 on its last line.

``--candidates`` says which passages each query's list holds:
  bm25          BM25's top ``--rerank-depth`` (a teacher's test row: what it gains from BM25's candidates counts)
  bm25+judged   BM25's top ``--rerank-depth`` and the judged passages: the trainer's validation (at depth 20)
  dense+judged  the top ``--rerank-depth`` of the bi-encoder index ``--index`` (default RUN/index-initial: the shape
                of the score file the teacher labels, judged positives against the initial student's negatives;
                RUN/index-baseline: the mistakes of the baseline a student starts from) and the judged passages
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from tasb import layout
from tasb.data import Qrels, Run, load_dataset
from tasb.models.colbert import ColBERT, PassageTokenCache
from tasb.models.student import BertDot
from tasb.retrieval.bm25 import BM25
from tasb.retrieval.index import DenseIndex, load_index_model, search
from tasb.retrieval.rerank import heads
from tasb.retrieval.scorers import BM25Scorer, ColbertScorer, DotScorer
from tasb.training.validation import WEIGHT_GRID, mean, top_and_judged, weight_grid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--run", required=True, type=Path, help="a quickstart folder: validation_qids.txt, colbert/model")
    parser.add_argument("--dense", nargs="*", default=[], help="NAME=PATH of bi-encoders to add as members")
    parser.add_argument("--grid", nargs="*", type=float, default=list(WEIGHT_GRID))
    parser.add_argument("--rerank-depth", type=int, default=100)
    parser.add_argument("--candidates", choices=["bm25", "bm25+judged", "dense+judged"], default="bm25")
    parser.add_argument("--index", type=Path, help="the bi-encoder index of dense+judged; default RUN/index-initial")
    args = parser.parse_args()

    data = load_dataset(args.data, "train")
    qids = (args.run / layout.VALIDATION_QIDS).read_text(encoding="utf-8").split()
    queries = {qid: data.queries[qid] for qid in qids}
    qrels = {qid: data.qrels[qid] for qid in qids}
    bm25 = BM25(data.corpus)
    top = candidates(args, bm25, data, queries)
    colbert = ColBERT.load(str(args.run / "colbert" / layout.MODEL))
    scorers = {"bm25": BM25Scorer(bm25), "colbert": ColbertScorer(colbert, PassageTokenCache(colbert, bf16=True))}
    scorers.update({name: DotScorer(BertDot.load(path)) for name, path in (spec.split("=", 1) for spec in args.dense)})
    scores = {name: scorer.score(top, queries, data.corpus) for name, scorer in scorers.items()}

    print_ranking(labelled_grid(scores, qrels, args.grid), 25)


def labelled_grid(scores: dict[str, Run], qrels: Qrels, grid: list[float]) -> dict[str, float]:
    """nDCG@10 of each member alone and of every ensemble of two or more with weights from ``grid``."""
    found = weight_grid(scores, qrels, "nDCG@10", 1, grid)  # a list holds its top 10: the rest cannot change nDCG@10
    return {" + ".join(f"{w:g}×{name}" for name, w in weights.items()) if len(weights) > 1 else next(iter(weights)): mean(per_query)
            for weights, per_query in found}


def print_ranking(results: dict[str, float], top: int) -> None:
    """The ``top`` best, then every result as one JSON object on the last line."""
    for label, value in sorted(results.items(), key=lambda item: -item[1])[:top]:
        print(f"{value:.3f}  {label}")
    print(json.dumps(results))


def candidates(args, bm25: BM25, data, queries) -> dict[str, list[str]]:
    if args.candidates == "dense+judged":
        index = DenseIndex.load(args.index or args.run / "index-initial")
        run = search(index, load_index_model(index), queries, k=args.rerank_depth, check_model=False)
    else:
        run = bm25.search(queries, k=args.rerank_depth)
    if args.candidates == "bm25":
        return heads(run, args.rerank_depth)
    return top_and_judged(run, data, queries, args.rerank_depth, rel=1)


if __name__ == "__main__":
    main()
