"""Quality drift of bf16 autocast on SciFact test: encoding and training, each against fp32, in one run.

Usage: python bench/bf16_drift.py [--data DIR] [--scores FILE] [--steps N] [--out DIR] [--model M] [--no-sampler-process]

Encoding: all-MiniLM-L6-v2 (zero-shot; another with --model) indexes SciFact's 5,183 passages at 200 tokens in fp32 and in bf16
and searches the 300 test queries each way: nDCG@10, R@100, passages/s, vector agreement.
Training: the student trains twice from the same seed and batches (Margin-MSE on the score file, batch 16,
30/128 tokens, lr 2e-5), once with bf16 autocast and once in fp32; both students are then encoded in fp32,
so only training differs: nDCG@10, R@100, seconds per step. Prints a table, then one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from tasb import layout
from tasb.config import StudentConfig, TrainConfig
from tasb.data import load_dataset, read_scores
from tasb.evaluation.metrics import evaluate
from tasb.markdown import markdown_table
from tasb.models.student import BertDot
from tasb.retrieval.index import build_index, search
from tasb.training.trainer import load_student, train

DATA = Path(os.environ.get("TASB_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
MEASURES = ("nDCG@10", "R@100")


def index_and_evaluate(model: BertDot, corpus, queries, qrels, folder: Path, bf16: bool) -> dict:
    start = time.perf_counter()
    index = build_index(model, corpus, folder, batch_size=32, bf16=bf16)
    seconds = time.perf_counter() - start
    run = search(index, model, queries, k=100)
    return {**evaluate(run, qrels, rel=1, measures=MEASURES), "passages_per_s": len(corpus) / seconds, "vectors": np.array(index.embeddings)}


def encoding_drift(data: str, model_name: str, workdir: Path) -> dict:
    test = load_dataset(data, "test")
    model = BertDot.load(model_name, query_max_length=30, passage_max_length=200)
    results = {name: index_and_evaluate(model, test.corpus, test.queries, test.qrels, workdir / name, bf16) for name, bf16 in
               (("fp32", False), ("bf16", True))}
    cosine = np.sum(results["fp32"].pop("vectors") * results["bf16"].pop("vectors"), axis=1)
    return {**results, "cosine_mean": float(cosine.mean()), "cosine_min": float(cosine.min())}


def training_drift(data: str, scores_file: str, steps: int, model_name: str, sampler_process: bool, workdir: Path) -> dict:
    train_set, test = load_dataset(data, "train", need_qrels=False), load_dataset(data, "test")
    scores = read_scores(scores_file)
    results = {}
    for name, bf16 in (("bf16", True), ("fp32", False)):
        config = TrainConfig(
            output_dir=str(workdir / f"train-{name}"), teacher_scores=scores_file, batch_size=16, steps=steps,
            learning_rate=2e-5, score_scale=10.0, bf16=bf16, seed=42, checkpoint_every=steps, log_every=steps,
            sampler_process=sampler_process,
            student=StudentConfig(model=model_name, query_max_length=30, passage_max_length=128),
        )
        start = time.perf_counter()
        folder = train(config, train_set, scores)
        seconds = time.perf_counter() - start
        student = load_student(StudentConfig(model=str(folder / layout.MODEL), query_max_length=30, passage_max_length=200))
        measured = index_and_evaluate(student, test.corpus, test.queries, test.qrels, workdir / f"index-{name}", bf16=False)
        measured.pop("vectors")
        results[name] = {**measured, "seconds_per_step": seconds / steps}
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA / "scifact"))
    parser.add_argument("--scores", default="runs/quickstart/teacher_scores.tsv")
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--out", default=None, help="keep the indexes and runs here (default: a temp folder)")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="the student, zero-shot and trained")
    parser.add_argument("--sampler-process", action=argparse.BooleanOptionalAction, default=True,
                        help="batches composed in a worker process, as tasb train does (its start-up counts in few steps)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(args.out or tmp)
        encoding = encoding_drift(args.data, args.model, workdir)
        training = training_drift(args.data, args.scores, args.steps, args.model, args.sampler_process, workdir)
    rows = [["encoding", name, f"{encoding[name]['nDCG@10']:.4f}", f"{encoding[name]['R@100']:.4f}",
             f"{encoding[name]['passages_per_s']:.1f} passages/s"] for name in ("fp32", "bf16")]
    rows += [["training", name, f"{training[name]['nDCG@10']:.4f}", f"{training[name]['R@100']:.4f}",
              f"{training[name]['seconds_per_step']:.2f} s/step"] for name in ("fp32", "bf16")]
    print("\n".join(markdown_table(["what", "precision", "nDCG@10", "R@100", "speed"], rows)))
    summary = {
        "model": args.model,
        "encoding": encoding,
        "training": training,
        "encoding_ndcg_drift": encoding["bf16"]["nDCG@10"] - encoding["fp32"]["nDCG@10"],
        "training_ndcg_drift": training["bf16"]["nDCG@10"] - training["fp32"]["nDCG@10"],
        "encoding_speedup": encoding["bf16"]["passages_per_s"] / encoding["fp32"]["passages_per_s"],
        "training_speedup": training["fp32"]["seconds_per_step"] / training["bf16"]["seconds_per_step"],
    }
    print(json.dumps(summary))


if __name__ == "__main__":
    main()
