"""Two systems trained with several seeds, compared on test: each seed's paired t-test, and one on the seed means.

A single seed's paired t-test over queries carries the seed's own luck; averaging each query's score over the
seeds first removes part of it, so the test on the seed means asks whether the systems differ beyond both the
queries' and the seeds' noise (docs/student.md, "A second seed"). Runs are given in seed order, one per seed for
each system.

    python scripts/seed_mean_ttest.py DATA --a RUN [RUN ...] --b RUN [RUN ...] [--split test] [--measure nDCG@10]
        [--qids FILE]   # only these queries of the split: held-out training queries, one qid a line

The last line is one JSON object.
"""

import argparse
import json
import statistics
from pathlib import Path

from tasb.data import load_dataset, read_run
from tasb.evaluation import evaluate_per_query
from tasb.evaluation.significance import paired_ttest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--a", nargs="+", required=True, help="system A's run files, one per seed")
    parser.add_argument("--b", nargs="+", required=True, help="system B's run files, in the same seed order")
    parser.add_argument("--split", default="test")
    parser.add_argument("--measure", default="nDCG@10")
    parser.add_argument("--qids", help="a file of the split's qids to compare on, one a line (default: all judged)")
    args = parser.parse_args()
    if len(args.a) != len(args.b):
        parser.error(f"--a has {len(args.a)} runs and --b {len(args.b)}: give one run per seed for each")
    qrels = load_dataset(args.data, args.split).qrels
    if args.qids:
        qids = Path(args.qids).read_text(encoding="utf-8").split()
        unjudged = [qid for qid in qids if qid not in qrels]
        if unjudged:
            parser.error(f"{args.qids}: {len(unjudged)} qids have no judgments in the {args.split} split, e.g. {unjudged[0]}")
        qrels = {qid: qrels[qid] for qid in qids}
    a = [_per_query(run, qrels, args.measure) for run in args.a]
    b = [_per_query(run, qrels, args.measure) for run in args.b]
    found = {"measure": args.measure, "seeds": [_compare(x, y) for x, y in zip(a, b)]}
    if len(a) > 1:
        found["seed_mean"] = _compare(_seed_mean(a), _seed_mean(b))
    print(json.dumps(found))


def _per_query(run: str, qrels, measure: str) -> dict[str, float]:
    scores = evaluate_per_query(read_run(run), qrels, 1, [measure])[measure]
    # a query the run did not answer scores 0, as trec_eval -c counts it
    return {qid: scores.get(qid, 0.0) for qid in qrels}


def _seed_mean(seeds: list[dict[str, float]]) -> dict[str, float]:
    return {qid: statistics.mean(scores[qid] for scores in seeds) for qid in seeds[0]}


def _compare(a: dict[str, float], b: dict[str, float]) -> dict[str, float]:
    mean_a, mean_b = statistics.mean(a.values()), statistics.mean(b.values())
    return {"a": round(mean_a, 4), "b": round(mean_b, 4), "difference": round(mean_a - mean_b, 4), "p": round(paired_ttest(a, b), 4)}


if __name__ == "__main__":
    main()
