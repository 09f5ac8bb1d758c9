"""The slice's sentence-transformers baseline at several step budgets, each judged by full retrieval of the research
queries beside the untrained model: how long the baseline should train on ~80 teaching queries.

Usage: python scripts/slice/baseline_budget.py QS_RUN OUT RESEARCH_QUERIES STEPS [STEPS ...]   (last line: one JSON object)

RESEARCH_QUERIES must be below the number of queries eligible (SciFact's slice: 605). Each budget is its own run (``train_steps``, so its learning-rate schedule is the one a user with that budget gets),
on the slice's pairs with every negative of the initial model's top ``negatives_depth`` (a quickstart with a short
``train_steps`` would draw fewer a query; the steps visit a random subset of the pairs either way). Per-query
nDCG@10 goes to ``OUT/<name>.research.json`` for paired t-tests (``initial`` is the untrained model, ``quickstart``
the slice run's own baseline).
"""

import dataclasses
import json
import sys
from pathlib import Path

from baseline import train_baseline
from common import slice_run
from full_retrieval import research_retrieval

from tasb.outputs import check_folder
from tasb.retrieval.index import DenseIndex, build_index
from tasb.training.setup import load_student


def main():
    qs, out, research_queries, *budgets = sys.argv[1:]
    qs, out = Path(qs), Path(out)
    check_folder(out, None).mkdir(parents=True, exist_ok=True)
    config, train_set, research = slice_run(qs, research_queries=int(research_queries))
    initial = load_student(config.student)
    found = {"research_queries": len(research.queries), "initial": research_retrieval(DenseIndex.load(qs / "index-initial"), initial, research, out / "initial.research.json")}
    # the slice run's own baseline, trained by the quickstart itself
    own = load_student(dataclasses.replace(config.student, model=str(qs / "baseline" / "model")))
    found["quickstart"] = research_retrieval(DenseIndex.load(qs / "index-baseline"), own, research, out / "quickstart.research.json")
    for steps in budgets:
        # a minute budget far above the steps: only the steps bind, whatever the machine's speed
        budget = dataclasses.replace(config, train_steps=int(steps), train_max_minutes=600.0)
        model, pairs = train_baseline(qs, out / f"steps{steps}", budget, train_set, config.negatives_depth)
        index = build_index(model, train_set.corpus, out / f"steps{steps}" / "index")
        found[f"steps{steps}"] = {"pairs": len(pairs), **research_retrieval(index, model, research, out / f"steps{steps}.research.json")}
        print(json.dumps({f"steps{steps}": found[f"steps{steps}"]}), flush=True)
    print(json.dumps(found))


if __name__ == "__main__":
    main()
