"""Test nDCG@10 split by whether a query's relevant passages were judged relevant for a training query.

A model fine-tuned on a collection's judged training queries finds, from memory, the passages those queries were
judged on; test queries asking about the same passages reward that, test queries about other passages do not.
The split shows which of the two a model's gain comes from (docs/student.md, "Test queries whose passages training
never judged"). Training queries listed in HELD_OUT_QIDS (the validation slice) are not counted as training.

    python scripts/seen_passages.py DATA HELD_OUT_QIDS RUN [RUN ...]

Prints each run's nDCG@10 on both groups and, for every later run, the paired t-test against the first; the last
line is one JSON object.
"""

import json
import statistics
import sys
from pathlib import Path

from tasb.data import load_dataset, read_run, sharing_positives
from tasb.evaluation import evaluate_per_query
from tasb.evaluation.significance import paired_ttest


def main() -> None:
    data, held_out_file, *runs = sys.argv[1:]
    held_out = set(Path(held_out_file).read_text(encoding="utf-8").split())
    train = load_dataset(data, "train")
    test = load_dataset(data, "test")
    seen = sharing_positives(test.qrels, {qid: judged for qid, judged in train.qrels.items() if qid not in held_out})
    groups = {"seen": sorted(seen), "unseen": sorted(set(test.qrels) - seen)}
    per_run = {run: evaluate_per_query(read_run(run), test.qrels, 1, ["nDCG@10"])["nDCG@10"] for run in runs}
    found = {}
    for run, scores in per_run.items():
        found[run] = {}
        for group, qids in groups.items():
            values = {qid: scores.get(qid, 0.0) for qid in qids}
            found[run][group] = {"queries": len(qids), "nDCG@10": round(statistics.mean(values.values()), 4)}
            if run != runs[0]:
                first = {qid: per_run[runs[0]].get(qid, 0.0) for qid in qids}
                found[run][group]["p_vs_first"] = round(paired_ttest(values, first), 4)
        print(run, json.dumps(found[run]))
    print(json.dumps(found))


if __name__ == "__main__":
    main()
