"""The quickstart's sentence-transformers baseline again on a slice run's data with PER_QUERY negatives per query,
judged by research validation (the trainer's protocol, and full retrieval into OUT/index).

Usage: python scripts/slice/baseline.py QS_RUN OUT PER_QUERY [KEY=VALUE ...]   (last line: one JSON object)
"""

import dataclasses
import json
import sys
from pathlib import Path

from common import slice_run
from full_retrieval import research_retrieval

from tasb.apps.quickstart import held_out_validation, student_train_config
from tasb.data import training_pairs
from tasb.outputs import check_folder
from tasb.retrieval.index import DenseIndex, build_index, search
from tasb.training.setup import load_student
from tasb.training.st_baseline import train_sentence_transformers
from tasb.training.validation import validation_score


def main():
    qs, out, per_query, *overrides = sys.argv[1:]
    qs, out = Path(qs), Path(out)
    # the project's output policy: a new or empty folder only, nothing a user had is written over
    check_folder(out, None).mkdir(parents=True, exist_ok=True)
    config, train_set, research = slice_run(qs, overrides)
    model, pairs = train_baseline(qs, out, config, train_set, int(per_query))
    print(json.dumps({
        "pairs": len(pairs),
        "rerank": validation_score(model, research, "nDCG@10", 1),
        "full": research_retrieval(build_index(model, train_set.corpus, out / "index"), model, research, out / "research.json"),
    }))


def train_baseline(qs: Path, out: Path, config, train_set, per_query: int):
    """The slice run's baseline trained again into ``out/baseline`` on its teaching queries, ``per_query`` negatives
    each from the initial model's top ``negatives_depth``; returns the model and the pairs."""
    config = dataclasses.replace(config, output_dir=str(out))
    held_out = set(held_out_validation(config, train_set).queries)
    teaching = {q: j for q, j in train_set.qrels.items() if q not in held_out}
    negatives = search(DenseIndex.load(qs / "index-initial"), load_student(config.student), train_set.judged_queries(), k=config.negatives_depth)
    pairs = training_pairs(teaching, negatives, depth=config.negatives_depth, per_query=per_query, seed=config.seed)
    folder = train_sentence_transformers(student_train_config(config, out), train_set, pairs, out / "baseline", exclude=held_out)
    return load_student(dataclasses.replace(config.student, model=str(folder / "model"))), pairs


if __name__ == "__main__":
    main()
