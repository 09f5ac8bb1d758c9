"""Seconds per training step in one process against the same global batch over two ``torchrun`` processes.

Usage: python bench/distributed_step.py [--data DIR] [--scores FILE] [--steps N] [--batch-size B] [--warmup 2] [--model M]

Both runs train all-MiniLM-L6-v2 (or --model; bf16, queries 30 / passages 128 tokens, pairwise Margin-MSE) on the same
score file and seed, one after the other on this machine: one process with both cores, then two processes
(gloo) with one core each, each encoding half of every batch. The first two steps (--warmup) are warm-up. On a
machine whose cores share one memory bus the two runs have the same compute; the difference is what the
all-gather of the vectors and the all-reduce of the gradients cost. Prints a table, then one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from tasb import layout
from tasb.markdown import markdown_table
from tasb.serve.launch import free_port

DATA = Path(os.environ.get("TASB_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
WARMUP = 2


def step_seconds(folder: Path, warmup: int) -> float:
    lines = [json.loads(line) for line in (folder / layout.TRAIN_LOG).read_text(encoding="utf-8").splitlines()]
    return statistics.median(1 / line["steps_per_s"] for line in lines[warmup:])


def run(config: Path, output: Path, processes: int, warmup: int) -> float:
    command = ["-m", "tasb", "train", str(config), "--set", f"output_dir={output}"]
    if processes > 1:
        launcher = ["-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
        command = [*launcher, *command]
    threads = str(max(1, (os.cpu_count() or 2) // processes))
    done = subprocess.run([sys.executable, *command], env={**os.environ, "OMP_NUM_THREADS": threads}, capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"training in {processes} process(es) failed with status {done.returncode}:\n{done.stderr[-4000:]}")
    return step_seconds(output, warmup)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA / "scifact"))
    parser.add_argument("--scores", default="runs/quickstart/teacher_scores.tsv")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16, help="the global batch: even, split over two processes")
    parser.add_argument("--warmup", type=int, default=WARMUP, help="first steps left out of the median")
    parser.add_argument("--model", default="all-MiniLM-L6-v2", help="the student")
    args = parser.parse_args(argv)
    if args.steps <= args.warmup or args.warmup < 0 or args.batch_size < 2 or args.batch_size % 2:
        parser.error("--steps must exceed --warmup (at least 0), and --batch-size be even")
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "train.yaml"
        config.write_text(yaml.safe_dump({
            "data": {"data": args.data, "split": "train"}, "teacher_scores": args.scores,
            "student": {"model": args.model, "query_max_length": 30, "passage_max_length": 128},
            "batch_size": args.batch_size, "steps": args.steps, "learning_rate": 2e-5, "score_scale": 10.0, "log_every": 1,
            "checkpoint_every": args.steps, "bf16": True, "sampler_process": False, "seed": 42,
        }))
        seconds = {processes: run(config, Path(tmp) / f"run-{processes}", processes, args.warmup) for processes in (1, 2)}
    print("\n".join(markdown_table(
        ["processes", "seconds per step (median after warm-up)"], [[str(processes), f"{value:.3f}"] for processes, value in seconds.items()]
    )))
    print(json.dumps({"model": args.model, "batch_size": args.batch_size, "one_process_s": seconds[1], "two_processes_s": seconds[2],
                      "two_over_one": seconds[2] / seconds[1]}))


if __name__ == "__main__":
    main()
