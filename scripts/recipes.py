"""Compare student recipes on held-out training queries (validation) and on the test queries, side by side.

Each variant is a ``tasb train`` config (``--config`` plus the variant's overrides) or, with
``baseline: sentence-transformers``, sentence-transformers' own trainer on the same triples and budget. Every
model indexes the whole corpus once; the validation queries and the test queries are searched in it, so the
validation figure is full retrieval like the test one. Finished variants are skipped on a rerun.

    python scripts/recipes.py --config configs/recipes.yaml --out runs/recipes

The variants file::

    train: {...TrainConfig fields shared by every variant...}
    validation_qids: runs/prep/validation_qids.txt   # held out from training, evaluated as validation
    test: {data: ../shared/data/scifact, split: test}
    variants:
      pairwise: {}
      labels: {contrastive_weight: 1.0}
      st: {baseline: sentence-transformers}

The last line printed is one JSON object: every variant's validation and test metrics, steps and seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import time
from pathlib import Path

import yaml

from tasb.config import DataConfig, TrainConfig, from_dict
from tasb.data import load_dataset, read_scores, write_run
from tasb.evaluation import evaluate, evaluate_per_query
from tasb.fsutil import write_json
from tasb.models.student import BertDot
from tasb.retrieval.index import build_index, search
from tasb.training.st_baseline import train_sentence_transformers
from tasb.training.trainer import train

MEASURES = ["nDCG@10", "RR@10", "R@100"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    args = parser.parse_args()
    spec = yaml.safe_load(Path(args.config).read_text(encoding="utf-8"))
    out = Path(args.out)
    base = from_dict(TrainConfig, spec["train"], args.config)
    train_set = load_dataset(base.data.data, base.data.split)
    test = from_dict(DataConfig, spec["test"], args.config)
    test_set = load_dataset(test.data, test.split)
    qids = Path(spec["validation_qids"]).read_text(encoding="utf-8").split()
    validation = {qid: train_set.queries[qid] for qid in qids}
    validation_qrels = {qid: train_set.qrels[qid] for qid in qids}
    scores = [row for row in read_scores(base.teacher_scores) if row.qid not in set(qids)]
    results = {}
    for name, overrides in spec["variants"].items():
        if args.only and name not in args.only:
            continue
        folder = out / name
        if not (folder / "results.json").exists():
            _run_variant(name, dict(overrides or {}), base, train_set, scores, qids, folder)
            _evaluate(folder, train_set, test_set, validation, validation_qrels, base.bf16)
        results[name] = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        print(name, json.dumps(results[name]), flush=True)
    print(json.dumps(results))


def _run_variant(name, overrides, base, train_set, scores, qids, folder: Path) -> None:
    baseline = overrides.pop("baseline", None)
    config = from_dict(TrainConfig, {**_as_dict(base), **overrides, "output_dir": str(folder / "train")}, f"variant {name}")
    started = time.monotonic()
    if baseline == "sentence-transformers":
        shutil.rmtree(folder / "train", ignore_errors=True)
        train_sentence_transformers(config, train_set, scores, folder / "train", exclude=qids)
    else:
        train(config, train_set, scores, resume=True)
    write_json(folder / "train_seconds.json", {"seconds": round(time.monotonic() - started, 1)})


def _evaluate(folder: Path, train_set, test_set, validation, validation_qrels, bf16: bool) -> None:
    model = str((folder / "train" / "model").resolve())
    student = BertDot.load(model)
    # one index of the (shared) corpus serves validation and test queries
    index = build_index(student, test_set.corpus, folder / "index", bf16=bf16, model_name=model)
    test_run = search(index, student, test_set.queries, k=1000)
    validation_run = search(index, student, validation, k=1000)
    shutil.rmtree(folder / "index")
    write_run(test_run, folder / "test.trec", tag=folder.name)
    write_json(folder / "per_query.json", evaluate_per_query(test_run, test_set.qrels, 1, MEASURES))
    metrics = json.loads((folder / "train" / "metrics.json").read_text(encoding="utf-8"))
    result = {
        "validation": evaluate(validation_run, validation_qrels, 1, MEASURES),
        "test": evaluate(test_run, test_set.qrels, 1, MEASURES),
        "steps": metrics["steps"],
        "train_seconds": metrics["seconds"],
    }
    write_json(folder / "results.json", result)


def _as_dict(config) -> dict:
    return dataclasses.asdict(config)


if __name__ == "__main__":
    main()
