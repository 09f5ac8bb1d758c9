"""Every bench under bench/ runs, in seconds, on a tiny model and tiny data, and ends with one JSON object
(issue 17, part 6): a bench nothing runs rots unnoticed. The numbers are not checked, only their shape.

Each bench runs as a subprocess, as a user runs it; data comes from the test's own folder, never from
../shared/data ($TASB_DATA_DIR points at an empty folder), and no model is fetched from the hub.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import os
import random
import subprocess
import sys
from pathlib import Path
from typing import Callable

import pytest
from typer.testing import CliRunner

from tasb.cli import app

BENCH = Path(__file__).resolve().parents[1] / "bench"
WORDS = "cell protein gene patient study risk disease cancer treatment effect blood brain heart signal growth".split()
TRAIN_QUERIES = 20  # bf16_drift trains at batch 16: as many distinct queries at least


@dataclasses.dataclass(frozen=True)
class Smoke:
    args: Callable[[dict[str, Path]], list[str]]  # from the fixtures' paths
    keys: set[str]  # the JSON object holds at least these


SMOKES = {
    "bf16_drift.py": Smoke(
        lambda p: ["--data", str(p["beir"]), "--scores", str(p["scores"]), "--steps", "1", "--model", str(p["model"]),
                   "--no-sampler-process"],
        {"model", "encoding", "training", "encoding_ndcg_drift", "training_ndcg_drift", "encoding_speedup", "training_speedup"},
    ),
    "cluster.py": Smoke(
        lambda p: ["--n", "500", "--d", "8", "--num-clusters", "5", "--niter", "2"],
        {"n", "d", "num_clusters", "niter", "threads", "seconds", "target_s", "met"},
    ),
    "distributed_step.py": Smoke(
        lambda p: ["--data", str(p["beir"]), "--scores", str(p["scores"]), "--steps", "2", "--warmup", "1", "--batch-size", "4",
                   "--model", str(p["model"])],
        {"model", "batch_size", "one_process_s", "two_processes_s", "two_over_one"},
    ),
    "encode.py": Smoke(
        lambda p: [str(p["corpus"]), "--model", str(p["model"]), "--docs", "8", "--rounds", "1"],
        {"model", "docs", "tasb_bf16_pps", "tasb_fp32_pps", "st_encode_pps", "ratio_bf16", "ratio_fp32", "cos_fp32_vs_st_mean",
         "cos_bf16_vs_fp32_mean"},
    ),
    "sampler.py": Smoke(
        lambda p: ["--queries", "300", "--pairs-per-query", "4", "--clusters", "10", "--batches", "20", "--batch-sizes", "8",
                   "--background-batches", "5"],
        {"queries", "pairs", "step_seconds", "step_batch_size", "samplers", "background", "target_fraction", "met"},
    ),
    "serve_load.py": Smoke(
        lambda p: ["--index", str(p["index"]), "--corpus", str(p["corpus"]), "--queries", str(p["queries"]), "--requests", "6",
                   "--concurrency", "1", "2", "--warmup", "2"],
        {"index", "serve_args", "concurrency", "max_p99_over_p50", "errors"},
    ),
    "train_step.py": Smoke(
        lambda p: ["--model", str(p["model"]), "--colbert", str(p["model"]), "--data", str(p["beir"]), "--batch-size", "4",
                   "--steps", "1", "--warmup", "0", "--no-bf16"],
        {"model", "data", "batch_size", "seconds_per_step", "all_seconds", "ratios", "targets", "targets_met", "cache"},
    ),
}


def _benches() -> list[str]:
    return sorted(path.name for path in BENCH.glob("*.py"))


def test_every_bench_has_a_smoke_test():
    assert set(SMOKES) == set(_benches())


@pytest.mark.parametrize("name", _benches())
def test_benches_use_public_functions_only(name):
    # a private function may change shape any day; a bench reaching for one breaks without a test noticing
    tree = ast.parse((BENCH / name).read_text(encoding="utf-8"))
    private = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "tasb"
        for alias in node.names
        if alias.name.startswith("_") or any(part.startswith("_") for part in node.module.split("."))
    ]
    assert not private, f"{name} imports private names: {private}"


@pytest.fixture(scope="module")
def inputs(tiny_bert_dir, tmp_path_factory) -> dict[str, Path]:
    """A tiny BEIR folder (train and test judgments), a teacher score file, a TSV corpus and queries, an index."""
    root = tmp_path_factory.mktemp("bench-inputs")
    rng = random.Random(0)
    passages = {f"p{i}": " ".join(rng.choices(WORDS, k=12)) for i in range(40)}
    queries = {f"q{i}": " ".join(rng.choices(WORDS, k=4)) for i in range(TRAIN_QUERIES + 4)}
    beir = root / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text("".join(json.dumps({"_id": pid, "title": "", "text": text}) + "\n"
                                               for pid, text in passages.items()), encoding="utf-8")
    (beir / "queries.jsonl").write_text("".join(json.dumps({"_id": qid, "text": text}) + "\n" for qid, text in queries.items()),
                                        encoding="utf-8")
    for split, numbers in (("train", range(TRAIN_QUERIES)), ("test", range(TRAIN_QUERIES, TRAIN_QUERIES + 4))):
        rows = "".join(f"q{n}\tp{n}\t1\n" for n in numbers)
        (beir / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + rows, encoding="utf-8")
    scores = root / "scores.tsv"
    scores.write_text("".join(f"{rng.uniform(3, 6):.3f}\t{rng.uniform(0, 3):.3f}\tq{n}\tp{n}\tp{(n + k) % 40}\n"
                              for n in range(TRAIN_QUERIES) for k in (1, 2)), encoding="utf-8")
    corpus = root / "corpus.tsv"
    corpus.write_text("".join(f"{pid}\t{text}\n" for pid, text in passages.items()), encoding="utf-8")
    topics = root / "queries.tsv"
    topics.write_text("".join(f"{qid}\t{text}\n" for qid, text in queries.items()), encoding="utf-8")
    index = root / "index"
    result = CliRunner().invoke(app, ["index", "--corpus", str(corpus), "--model", str(tiny_bert_dir), "--out", str(index), "--no-bf16"])
    assert result.exit_code == 0, result.output
    return {"beir": beir, "scores": scores, "corpus": corpus, "queries": topics, "index": index, "model": tiny_bert_dir}


@pytest.mark.parametrize("name", sorted(SMOKES))
@pytest.mark.slow
def test_bench_runs_small_and_ends_with_one_json_object(name, inputs, tmp_path):
    smoke = SMOKES[name]
    (tmp_path / "no-data").mkdir()
    env = {**os.environ, "TASB_DATA_DIR": str(tmp_path / "no-data"), "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    done = subprocess.run([sys.executable, str(BENCH / name), *smoke.args(inputs)], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-3000:]
    result = json.loads(lines[-1])
    assert isinstance(result, dict)
    assert smoke.keys <= set(result), f"missing keys: {smoke.keys - set(result)}"
    if name == "serve_load.py":
        assert result["errors"] == 0, result
