"""Full retrieval of a slice run's research queries in saved indexes: nDCG@10 and R@100 per index, and per-query
nDCG@10 to OUT_DIR/<index name>.research.json for paired t-tests.

Usage: python scripts/slice/full_retrieval.py QS_RUN OUT_DIR INDEX_DIR:MODEL ...   (last line: one JSON object)
"""

import dataclasses
import json
import sys
from pathlib import Path

from common import slice_run

from tasb.evaluation import evaluate, evaluate_per_query
from tasb.fsutil import write_json
from tasb.retrieval.index import DenseIndex, search
from tasb.training.setup import load_student


def research_retrieval(index: DenseIndex, student, validation, out: Path) -> dict[str, float]:
    run = search(index, student, validation.queries, k=100)
    write_json(out, evaluate_per_query(run, validation.qrels)["nDCG@10"])
    return evaluate(run, validation.qrels, measures=["nDCG@10", "R@100"])


def main():
    qs, out, *pairs = sys.argv[1:]
    config, _, validation = slice_run(qs)
    found = {}
    for pair in pairs:
        index_dir, model = pair.split(":")
        student = load_student(dataclasses.replace(config.student, model=model), "cpu")
        found[index_dir] = research_retrieval(DenseIndex.load(index_dir), student, validation, Path(out) / f"{Path(index_dir).name}.research.json")
    print(json.dumps(found))


if __name__ == "__main__":
    main()
