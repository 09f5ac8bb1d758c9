"""kill -9 a real `tasb train` process, resume it, and end with the weights of a run never interrupted."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml
from safetensors.torch import load_file

from tasb.layout import checkpoint_dir, checkpoints
from tasb.training.checkpoints import prune_checkpoints
from test_trainer import _write_synthetic  # the synthetic training problem of the single-process tests

STEPS = 300


@pytest.fixture(scope="module")
def config(tiny_bert_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("crash")
    data, scores = _write_synthetic(root)
    path = root / "train.yaml"
    path.write_text(yaml.safe_dump({
        "data": {"data": data, "split": "train"},
        "teacher_scores": scores,
        # the tiny BERT keeps its dropout: the resumed run must draw the same masks from the restored RNGs
        "student": {"model": str(tiny_bert_dir), "query_max_length": 12, "passage_max_length": 16},
        "sampler": "random", "sampler_process": True,
        "batch_size": 4, "steps": STEPS, "learning_rate": 1e-4, "checkpoint_every": 7, "keep_checkpoints": 2, "log_every": 5,
        "bf16": False, "seed": 11,
    }))
    return path


def _train(config: Path, output: Path, *extra: str) -> subprocess.Popen:
    command = [sys.executable, "-m", "tasb", "train", str(config), "--set", f"output_dir={output}", *extra]
    return subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _trained_past_a_checkpoint(folder: Path, minimum: int) -> bool:
    steps = sorted(int(p.name[len("step-"):]) for p in (folder / "checkpoints").glob("step-*") if p.name[len("step-"):].isdigit())
    log = folder / "train_log.jsonl"
    if len(steps) < minimum or not log.is_file():
        return False
    logged = [json.loads(line)["step"] for line in log.read_text().splitlines() if line.strip().endswith("}")]
    return bool(logged) and max(logged) > steps[-1]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(next((folder / "model").rglob("model.safetensors"))))


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc to find the sampler process")
@pytest.mark.slow
def test_a_run_killed_mid_training_resumes_to_the_same_weights(config, tmp_path):
    full = _train(config, tmp_path / "full")
    assert full.wait(timeout=300) == 0, full.stderr.read()

    crashed = _train(config, tmp_path / "crashed")
    deadline = time.monotonic() + 120
    # past two checkpoints and with steps logged since the newest: the kill lands between checkpoints
    while not _trained_past_a_checkpoint(tmp_path / "crashed", minimum=2):
        assert crashed.poll() is None, "the run ended before it could be killed: " + crashed.stderr.read()
        assert time.monotonic() < deadline
        time.sleep(0.005)
    workers = _children(crashed.pid)
    crashed.send_signal(signal.SIGKILL)
    crashed.wait(timeout=30)
    assert not (tmp_path / "crashed" / "DONE").exists()
    logged = [json.loads(line)["step"] for line in (tmp_path / "crashed" / "train_log.jsonl").read_text().splitlines() if line.strip()]
    assert logged and max(logged) < STEPS
    # the background sampler notices its trainer is gone and exits instead of waiting on a full queue forever
    give_up = time.monotonic() + 10
    while any(_alive(pid) for pid in workers) and time.monotonic() < give_up:
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in workers)

    resumed = _train(config, tmp_path / "crashed", "--resume")
    assert resumed.wait(timeout=300) == 0, resumed.stderr.read()

    expected, got = _weights(tmp_path / "full"), _weights(tmp_path / "crashed")
    assert expected.keys() == got.keys()
    assert all(torch.equal(expected[name], got[name]) for name in expected)
    full_log = (tmp_path / "full" / "train_log.jsonl").read_text().splitlines()
    resumed_log = (tmp_path / "crashed" / "train_log.jsonl").read_text().splitlines()
    strip = [{k: v for k, v in json.loads(line).items() if k not in ("steps_per_s", "elapsed_s", "sampler_wait_s")} for line in full_log]
    again = [{k: v for k, v in json.loads(line).items() if k not in ("steps_per_s", "elapsed_s", "sampler_wait_s")} for line in resumed_log]
    assert again == strip


def test_a_kill_while_old_checkpoints_are_deleted_leaves_only_whole_ones_listed(tmp_path, monkeypatch):
    files = ["model.safetensors", "trainer_state.pt", "state.json"]
    for step in (7, 14, 21):
        checkpoint_dir(tmp_path, step).mkdir(parents=True)
        for name in files:
            (checkpoint_dir(tmp_path, step) / name).write_text(str(step))
    real_rmtree = shutil.rmtree

    def killed_midway(path, ignore_errors=False):
        if Path(path).exists():
            (Path(path) / files[0]).unlink()
            raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", killed_midway)
    with pytest.raises(KeyboardInterrupt):
        prune_checkpoints(tmp_path, keep=1)
    assert [p.name for p in checkpoints(tmp_path)] == ["step-14", "step-21"]
    assert all(sorted(f.name for f in p.iterdir()) == sorted(files) for p in checkpoints(tmp_path))

    monkeypatch.setattr(shutil, "rmtree", real_rmtree)
    # what a kill left aside under the name versions before 78fbbdb used goes too
    (tmp_path / "checkpoints" / ".step-3.old").mkdir()
    prune_checkpoints(tmp_path, keep=1)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-21"]
