"""Two training processes under torchrun take the same steps as one process with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from test_trainer import _synthetic  # the synthetic training problem of the single-process tests
from transformers import AutoTokenizer, BertConfig, BertModel

from tasb.data.writers import write_scores
from tasb.models.colbert import ColBERT
from tasb.models.hub import resolve_model
from tasb.models.student import BertDot
from tasb.serve.launch import free_port
from tasb.training.distributed import World

# float32 sums over a different padding (each rank pads its own slice) and a different reduction order
TOLERANCE = 1e-4


def _dropout_free_bert(folder):
    # dropout draws from each process's own RNG: without it, one process and two must compute the same thing
    torch.manual_seed(0)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64,
        hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    root = tmp_path_factory.mktemp("ddp")
    dataset, scores = _synthetic()
    data = root / "data"
    (data / "qrels").mkdir(parents=True)
    (data / "corpus.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in dataset.corpus.items()))
    (data / "queries.jsonl").write_text("".join(json.dumps({"_id": k, "text": v}) + "\n" for k, v in dataset.queries.items()))
    (data / "qrels" / "train.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\tp{i}\t1\n" for i in range(20)))
    write_scores(scores, root / "scores.tsv")
    student = _dropout_free_bert(root / "student")
    ColBERT.load(str(student), dim=16).save(root / "colbert")
    config = {
        "data": {"data": str(data), "split": "train"},
        "teacher_scores": str(root / "scores.tsv"),
        "student": {"model": str(student), "query_max_length": 12, "passage_max_length": 16},
        "teacher_mode": "dual",
        "colbert_teacher": str(root / "colbert"),
        "batch_size": 8,
        "steps": 4,
        "learning_rate": 1e-3,
        "log_every": 1,
        "checkpoint_every": 4,
        "bf16": False,
        "sampler_process": False,
        "seed": 3,
    }
    (root / "train.yaml").write_text(yaml.safe_dump(config))
    return root


def _losses(folder) -> dict[str, list[float]]:
    lines = [json.loads(line) for line in (folder / "train_log.jsonl").read_text().splitlines()]
    return {part: [line[part] for line in lines] for part in ("loss", "loss_pair", "loss_inbatch")}


def _train(setup, output: str, processes: int) -> None:
    command = ["-m", "tasb", "train", str(setup / "train.yaml"), "--set", f"output_dir={setup / output}"]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--master_addr=127.0.0.1",
                    f"--master_port={free_port()}"]
        command = [*launcher, *command]
    else:
        command = [sys.executable, *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


def test_two_processes_take_the_steps_of_one_with_the_same_global_batch(setup):
    _train(setup, "one", processes=1)
    _train(setup, "two", processes=2)

    one, two = _losses(setup / "one"), _losses(setup / "two")
    assert len(one["loss"]) == len(two["loss"]) == 4
    # each part on its own: the in-batch part (ColBERT's scores, negatives from both slices) is the small one
    for part in one:
        np.testing.assert_allclose(two[part], one[part], rtol=TOLERANCE, err_msg=part)
    assert min(one["loss_inbatch"]) > 0.01
    weights_one = BertDot.load(str(setup / "one" / "model")).encoder.state_dict()
    weights_two = BertDot.load(str(setup / "two" / "model")).encoder.state_dict()
    differences = torch.cat([(weights_two[name] - tensor).abs().flatten() for name, tensor in weights_one.items()])
    # Adam moves a weight by ~lr whatever its gradient's size, so a gradient of ~0 whose rounding differs can
    # move one weight by up to 2·lr a step; the rest agree to rounding
    assert differences.max() <= 2 * 4 * 1e-3 and differences.mean() < 1e-6
    # rank 0 alone wrote the run folder
    assert (setup / "two" / "DONE").is_file() and not list((setup / "two").glob("*rank*"))


def test_each_rank_takes_its_slice_of_the_global_batch():
    batch = list(range(8))
    slices = [World(rank, 4).local(batch) for rank in range(4)]
    assert slices == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert World().local(batch) == batch and World().gather(torch.ones(2)).shape == (2,)
