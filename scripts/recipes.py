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
    variants:   # each: TrainConfig overrides (teacher_scores too), or baseline: sentence-transformers
      pairwise: {}
      labels: {contrastive_weight: 1.0}
      st: {baseline: sentence-transformers}

With ``index_passage_max_length: L`` in the file, every model indexes and searches passages cut at ``L`` tokens
instead of the length it trained on, so variants that train on other lengths are judged alike.

With ``curve_every: N`` in the file, every variant also keeps its model every N steps (tasb's checkpoints, or
sentence-transformers snapshots) and each of them, the model it started from included, is evaluated the same way
into ``curve.json`` (step, training minutes, validation and test metrics; each point's test run in
``curve/step-N.test.trec``) and ``curves.png`` beside the variants.
A variant that starts from a model trained in a tasb or sentence-transformers run folder (``<run>/model``) is drawn
from that run's own training minutes on (its ``metrics.json``), so curves compare whole pipelines.

The last line printed is one JSON object: every variant's validation metrics, steps and seconds. Test metrics go
to each variant's ``results.json`` and are printed only with ``--show-test``: a recipe is chosen on validation, and
test is read once per chosen recipe (``scripts/seed_mean_ttest.py`` on the ``test.trec`` files).
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import json
import shutil
import time
from pathlib import Path

import yaml

from tasb import layout
from tasb.config import DataConfig, TrainConfig, from_dict
from tasb.data import load_dataset, read_scores, write_run
from tasb.evaluation import evaluate, evaluate_per_query
from tasb.evaluation.plots import learning_curve_plot
from tasb.fsutil import write_json
from tasb.models.student import BertDot
from tasb.retrieval.index import build_index, search
from tasb.training.setup import without_queries
from tasb.training.st_baseline import train_sentence_transformers
from tasb.training.trainer import train

MEASURES = ["nDCG@10", "RR@10", "R@100"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--only", nargs="*", help="variants to run (default: all)")
    parser.add_argument("--show-test", action="store_true", help="print test metrics too (they are in results.json either way)")
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

    @functools.cache
    def teacher_scores(path: str) -> list:
        # read when a variant first trains on it: a rerun over finished variants reads no score file
        return without_queries(read_scores(path), validation)

    curve_every = spec.get("curve_every")
    eval_sets = (train_set, test_set, validation, validation_qrels, base.bf16, spec.get("index_passage_max_length"))
    printed, curves = {}, {}
    for name, overrides in spec["variants"].items():
        if args.only and name not in args.only:
            continue
        folder = out / name
        overrides = dict(overrides or {})
        baseline = overrides.pop("baseline", None)
        config = _variant_config(name, overrides, base, folder, curve_every)
        if not (folder / "results.json").exists():
            # a variant may teach from its own score file (another teacher, other negatives)
            _run_variant(baseline, config, train_set, teacher_scores(config.teacher_scores), qids, folder, curve_every)
            _evaluate(folder, *eval_sets)
        result = json.loads((folder / "results.json").read_text(encoding="utf-8"))
        if curve_every:
            curves[name] = (_start_minutes(config.student.model), _curve(folder, config.student.model, *eval_sets))
        printed[name] = _shown(result, args.show_test)
        print(name, json.dumps(printed[name]), flush=True)
    if curves:
        learning_curve_plot(
            out / "curves.png",
            {name: {side: ([start + p["minutes"] for p in points], [p[side]["nDCG@10"] for p in points])
                    for side in ("validation", "test")}
             for name, (start, points) in curves.items()},
            "nDCG@10",
        )
    print(json.dumps(printed))


def _shown(result: dict, show_test: bool) -> dict:
    """What is printed of a variant's results: all of them, or all but the test metrics."""
    return result if show_test else {key: value for key, value in result.items() if key != "test"}


def _start_minutes(model: str) -> float:
    """Training minutes the starting model already cost: its run folder's, 0 for a model that was not trained here."""
    metrics = Path(model).parent / layout.METRICS
    if Path(model).name != layout.MODEL or not metrics.is_file():
        return 0.0
    return json.loads(metrics.read_text(encoding="utf-8"))["seconds"] / 60


def _variant_config(name: str, overrides: dict, base: TrainConfig, folder: Path, curve_every: int | None) -> TrainConfig:
    if curve_every:
        overrides = {**overrides, "checkpoint_every": curve_every, "keep_checkpoints": 10**6}
    return from_dict(TrainConfig, {**dataclasses.asdict(base), **overrides, "output_dir": str(folder / "train")}, f"variant {name}")


def _run_variant(baseline, config: TrainConfig, train_set, scores, qids, folder: Path, curve_every: int | None) -> None:
    started = time.monotonic()
    if baseline == "sentence-transformers":
        train_sentence_transformers(config, train_set, scores, folder / "train", exclude=qids, snapshot_every=curve_every)
    else:
        train(config, train_set, scores, resume=True)
    write_json(folder / "train_seconds.json", {"seconds": round(time.monotonic() - started, 1)})


def _evaluate(folder: Path, train_set, test_set, validation, validation_qrels, bf16: bool, passage_max_length: int | None) -> None:
    model = str((folder / "train" / layout.MODEL).resolve())
    test_run, validation_run = _search(model, folder / "index", test_set, validation, bf16, passage_max_length)
    write_run(test_run, folder / "test.trec", tag=folder.name)
    # for paired tests on the held-out queries between variants (scripts/seed_mean_ttest.py --split train --qids)
    write_run(validation_run, folder / "validation.trec", tag=folder.name)
    write_json(folder / "per_query.json", evaluate_per_query(test_run, test_set.qrels, 1, MEASURES))
    metrics = json.loads((folder / "train" / layout.METRICS).read_text(encoding="utf-8"))
    result = {
        "validation": evaluate(validation_run, validation_qrels, 1, MEASURES),
        "test": evaluate(test_run, test_set.qrels, 1, MEASURES),
        "steps": metrics["steps"],
        "train_seconds": metrics["seconds"],
    }
    write_json(folder / "results.json", result)


def _search(model: str, index_folder: Path, test_set, validation, bf16: bool, passage_max_length: int | None):
    """The test and validation runs of one model, from one index of the (shared) corpus."""
    student = BertDot.load(model, passage_max_length=passage_max_length)
    index = build_index(student, test_set.corpus, index_folder, bf16=bf16, model_name=model)
    runs = search(index, student, test_set.queries, k=1000), search(index, student, validation, k=1000)
    shutil.rmtree(index_folder)
    return runs


def _curve(
    folder: Path, start: str, train_set, test_set, validation, validation_qrels, bf16: bool, passage_max_length: int | None
) -> list[dict]:
    """Validation and test metrics of the model training started from (step 0) and of every kept checkpoint, by
    training minutes."""
    if (folder / "curve.json").exists():
        return json.loads((folder / "curve.json").read_text(encoding="utf-8"))
    points = [(0, 0.0, start)]
    for checkpoint in layout.checkpoints(folder / "train"):
        progress = json.loads((checkpoint / layout.CHECKPOINT_STATE).read_text(encoding="utf-8"))["progress"]
        points.append((progress["step"], progress["elapsed_s"] / 60, str((checkpoint / layout.MODEL).resolve())))
    curve = []
    for step, minutes, model in points:
        test_run, validation_run = _search(model, folder / "index", test_set, validation, bf16, passage_max_length)
        # kept for paired tests between points of different curves
        write_run(test_run, folder / "curve" / f"step-{step}.test.trec", tag=f"{folder.name}-{step}")
        curve.append({
            "step": step, "minutes": round(minutes, 2),
            "validation": evaluate(validation_run, validation_qrels, 1, MEASURES),
            "test": evaluate(test_run, test_set.qrels, 1, MEASURES),
        })
    write_json(folder / "curve.json", curve)
    return curve


if __name__ == "__main__":
    main()
