"""``tasb train`` as a function: a config in, a trained student's run folder out.

The config is a :class:`~tasb.config.TrainConfig` or a YAML file of its fields, with ``key=value``
overrides as ``--set`` takes them; the data and the teacher score file it names are loaded here and
handed to :func:`tasb.training.trainer.train`, which takes loaded objects.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from tasb.config import TrainConfig, apply_overrides, from_dict, load_config, to_dict
from tasb.data import load_dataset, read_scores
from tasb.errors import InputError

__all__ = ["train_config", "train_from_config"]


def train_config(config: TrainConfig | str | os.PathLike | None = None, overrides: Sequence[str] = ()) -> TrainConfig:
    """The config a run would use: ``config`` (a TrainConfig, a YAML file of its fields, or None for the
    defaults) with ``overrides`` (``key.sub=value`` strings) applied; a refused key or value is an InputError
    naming the file's line or the override."""
    if isinstance(config, TrainConfig):
        if not overrides:
            return config
        return from_dict(TrainConfig, apply_overrides(to_dict(config), list(overrides)), source="overrides")
    return load_config(TrainConfig, config, list(overrides))


def train_from_config(
    config: TrainConfig | str | os.PathLike | None = None, overrides: Sequence[str] = (), resume: bool = False
) -> Path:
    """Train the student as ``tasb train CONFIG --set KEY=VALUE ... [--resume]`` does; returns the run folder
    (``config.output_dir``: the model in ``model/``, ``metrics.json``, ``train_log.jsonl``).

    The queries, passages and judgments come from ``config.data`` (judgments are needed only when
    ``validation`` holds queries out), the pairs and their teacher scores from ``config.teacher_scores``.
    ``resume`` continues from the newest checkpoint in the run folder (a finished run without one is refused);
    without it a folder holding an earlier run is refused.
    """
    from tasb.training.trainer import train

    source = config if isinstance(config, (str, os.PathLike)) else "config"
    cfg = train_config(config, overrides)
    if not cfg.teacher_scores:
        raise InputError(source, "teacher_scores: the path of a teacher score file")
    data = cfg.data
    # early stopping re-ranks held-out judged queries: only then are judgments needed
    dataset = load_dataset(data.data, data.split, data.corpus, data.queries, data.qrels, need_qrels=cfg.validation.enabled)
    return train(cfg, dataset, read_scores(cfg.teacher_scores), resume=resume)
