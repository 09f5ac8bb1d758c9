"""Two training processes under torchrun take the same steps as one process with the same global batch."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch
import yaml
from test_trainer import _write_synthetic  # the synthetic training problem of the single-process tests
from transformers import AutoTokenizer, BertConfig, BertModel

from tasb.models.colbert import ColBERT
from tasb.models.resolve import resolve_model
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
    data, scores = _write_synthetic(root)
    student = _dropout_free_bert(root / "student")
    ColBERT.load(str(student), dim=16).save(root / "colbert")
    config = {
        "data": {"data": data, "split": "train"},
        "teacher_scores": scores,
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


def _train(setup, output: str, processes: int, extra: list[str] | None = None) -> None:
    command = ["-m", "tasb", "train", str(setup / "train.yaml"), "--set", f"output_dir={setup / output}", *(extra or [])]
    if processes > 1:
        launcher = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={processes}", "--master_addr=127.0.0.1",
                    f"--master_port={free_port()}"]
        command = [*launcher, *command]
    else:
        command = [sys.executable, *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, env={**__import__("os").environ, "OMP_NUM_THREADS": "1"})
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]


@pytest.mark.slow
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


@pytest.mark.slow
def test_a_resumed_two_process_run_with_early_stopping_continues_like_one_process(setup):
    extra = ["--set", "steps=6", "--set", "checkpoint_every=2", "--set", "validation.queries=4", "--set", "validation.every=2",
             "--set", "validation.rerank_depth=5", "--set", "validation.patience=10"]
    _train(setup, "one-6", processes=1, extra=extra)
    _train(setup, "two-resumed", processes=2, extra=[*extra, "--set", "steps=4"])
    _train(setup, "two-resumed", processes=2, extra=[*extra, "--resume"])

    one, two = _losses(setup / "one-6"), _losses(setup / "two-resumed")
    for part in one:
        np.testing.assert_allclose(two[part], one[part], rtol=TOLERANCE, err_msg=part)
    validation = [json.loads(line)["step"] for line in (setup / "two-resumed" / "validation.jsonl").read_text().splitlines()]
    assert validation == [0, 2, 4, 6]
    assert (setup / "two-resumed" / "best").is_dir() and (setup / "two-resumed" / "DONE").is_file()


GRADIENT_SCRIPT = """
import sys
import torch
from tasb.training.distributed import init_world, leave_world

world = init_world()
torch.manual_seed(0)
encoder = torch.nn.Linear(5, 3)
queries, passages = torch.randn(8, 5), torch.randn(16, 5)
local_queries = encoder(torch.stack(world.local(list(queries))))
local_passages = encoder(torch.cat([torch.stack(world.local(list(passages[:8]))), torch.stack(world.local(list(passages[8:])))]))
n = 8 // world.size
scores = world.gather(local_queries) @ torch.cat([world.gather(local_passages[:n]), world.gather(local_passages[n:])]).T
# an in-batch softmax: every query against every passage of the global batch, so each rank's gradient needs the others'
(torch.logsumexp(scores, dim=1) - scores.diagonal()).mean().backward()
world.average_gradients(encoder.parameters())
torch.save({name: p.grad for name, p in encoder.named_parameters()}, f"{sys.argv[1]}/grad-{world.rank}.pt")
leave_world(world)
"""


@pytest.mark.slow
def test_averaged_gradients_are_the_single_process_gradient(tmp_path):
    # Adam hides a gradient's scale (a doubled gradient takes the same step): compare the gradients themselves
    script = tmp_path / "gradients.py"
    script.write_text(GRADIENT_SCRIPT)
    launcher = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--master_addr=127.0.0.1", f"--master_port={free_port()}"]
    done = subprocess.run([*launcher, str(script), str(tmp_path)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-3000:]

    torch.manual_seed(0)
    encoder = torch.nn.Linear(5, 3)
    queries, passages = torch.randn(8, 5), torch.randn(16, 5)
    scores = encoder(queries) @ encoder(passages).T
    (torch.logsumexp(scores, dim=1) - scores.diagonal()).mean().backward()
    for rank in (0, 1):
        gradients = torch.load(tmp_path / f"grad-{rank}.pt", weights_only=True)
        for name, parameter in encoder.named_parameters():
            torch.testing.assert_close(gradients[name], parameter.grad, rtol=1e-5, atol=1e-7)


def test_each_rank_takes_its_slice_of_the_global_batch():
    batch = list(range(8))
    slices = [World(rank, 4).local(batch) for rank in range(4)]
    assert slices == [[0, 1], [2, 3], [4, 5], [6, 7]]
    assert World().local(batch) == batch and World().gather(torch.ones(2)).shape == (2,)
