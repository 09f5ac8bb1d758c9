"""TensorBoard curves of a training run, and a progress bar that counts to the step the budget allows."""

import math

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from test_early_stopping import _judged
from test_trainer import _config

from tasb.config import ValidationConfig
from tasb.training.trainer import expected_steps, train


@pytest.mark.slow
def test_tensorboard_holds_the_logged_losses_learning_rate_and_validation_metric(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    config = _config(tmp_path, tiny_bert_dir, "run", steps=4, log_every=2, tensorboard=True,
                     validation=ValidationConfig(queries=4, every=2, patience=5))
    folder = train(config, dataset, scores)
    events = EventAccumulator(str(folder / "tensorboard"))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/loss", "train/loss_pair", "train/lr", "train/steps_per_s", "validation/nDCG@10"} <= tags
    logged = [line for line in (folder / "train_log.jsonl").read_text().splitlines()]
    assert [e.step for e in events.Scalars("train/loss")] == [2, 4] and len(logged) == 2
    assert [e.step for e in events.Scalars("validation/nDCG@10")] == [0, 2, 4]


@pytest.mark.slow
def test_a_run_without_tensorboard_writes_none(tmp_path, tiny_bert_dir):
    dataset, scores = _judged()
    folder = train(_config(tmp_path, tiny_bert_dir, "run", steps=2), dataset, scores)
    assert not (folder / "tensorboard").exists()


def test_the_bar_counts_to_the_steps_or_to_where_the_time_budget_ends():
    assert expected_steps(1000, 10, 10, 20.0, 20.0, math.inf) == 1000  # no time budget
    assert expected_steps(1000, 10, 10, 20.0, 20.0, 600.0) == 10 + 290  # 2 s a step, 580 s left
    assert expected_steps(100, 10, 10, 20.0, 20.0, 600.0) == 100  # the steps bind first
    assert expected_steps(1000, 50, 0, 0.0, 30.0, 600.0) == 1000  # nothing measured yet in this process
    assert expected_steps(1000, 50, 10, 20.0, 700.0, 600.0) == 50  # past the budget: ends here
