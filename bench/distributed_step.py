"""Seconds per training step in one process against the same global batch over two ``torchrun`` processes.

Usage: python bench/distributed_step.py [--data DIR] [--scores FILE] [--steps N] [--batch-size B]

Both runs train all-MiniLM-L6-v2 (bf16, queries 30 / passages 128 tokens, pairwise Margin-MSE) on the same
score file and seed, one after the other on this machine: one process with both cores, then two processes
(gloo) with one core each, each encoding half of every batch. The first two steps are warm-up. On a
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

from tasb.serve.launch import free_port

DATA = Path(os.environ.get("TASB_DATA_DIR", Path(__file__).resolve().parents[2] / "shared" / "data"))
WARMUP = 2


def step_seconds(folder: Path) -> float:
    lines = [json.loads(line) for line in (folder / "train_log.jsonl").read_text(encoding="utf-8").splitlines()]
    return statistics.median(1 / line["steps_per_s"] for line in lines[WARMUP:])


def run(config: Path, output: Path, processes: int) -> float:
    command = ["-m", "tasb", "train", str(config), "--set", f"output_dir={output}"]
    if processes > 1:
        launcher = ["-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
        command = [*launcher, *command]
    threads = str(max(1, (os.cpu_count() or 2) // processes))
    subprocess.run([sys.executable, *command], check=True, env={**os.environ, "OMP_NUM_THREADS": threads}, capture_output=True)
    return step_seconds(output)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", default=str(DATA / "scifact"))
    parser.add_argument("--scores", default="runs/quickstart/teacher_scores.tsv")
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        config = Path(tmp) / "train.yaml"
        config.write_text(yaml.safe_dump({
            "data": {"data": args.data, "split": "train"}, "teacher_scores": args.scores,
            "student": {"model": "all-MiniLM-L6-v2", "query_max_length": 30, "passage_max_length": 128},
            "batch_size": args.batch_size, "steps": args.steps, "learning_rate": 2e-5, "score_scale": 10.0, "log_every": 1,
            "checkpoint_every": args.steps, "bf16": True, "sampler_process": False, "seed": 42,
        }))
        seconds = {processes: run(config, Path(tmp) / f"run-{processes}", processes) for processes in (1, 2)}
    print("| processes | seconds per step (median after warm-up) |")
    print("|---|---|")
    for processes, value in seconds.items():
        print(f"| {processes} | {value:.3f} |")
    print(json.dumps({"batch_size": args.batch_size, "one_process_s": seconds[1], "two_processes_s": seconds[2],
                      "two_over_one": seconds[2] / seconds[1]}))


if __name__ == "__main__":
    main()
