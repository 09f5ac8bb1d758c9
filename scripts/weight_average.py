"""Validation of models averaged, weight by weight, between a starting model (--start: the zero-shot model, or the
run's baseline) and a model a finished quickstart trained (WiSE-FT, Wortsman et al. 2022: a fine-tuned model
averaged with a model before fine-tuning often keeps what both know). Validation only: the run's held-out queries
(checked against its validation_qids.txt), or with --research-data a slice's other training queries as
scripts/student_stage.py chooses them; the test split is not loaded. The last line is one JSON object.

Usage: python scripts/weight_average.py QUICKSTART_RUN [--start initial|baseline] [--trained student|baseline]
       [--alphas 0,0.25,0.5,0.75,1] [--research-data DIR --research-queries N]
"""

import argparse
import json
from pathlib import Path

import torch
from student_stage import research_validation

from tasb.apps.quickstart import DEFAULT_DATASET, QuickstartConfig, held_out_validation, validation_settings
from tasb.config import load_config
from tasb.data import load_dataset
from tasb.models.student import BertDot
from tasb.training.setup import load_student
from tasb.training.validation import validation_score


def load(run: Path, config: QuickstartConfig, name: str) -> BertDot:
    if name == "initial":
        return load_student(config.student, config.device)
    return BertDot.load(str((run / name / "model").resolve()), device=config.device)


def averaged(start: dict[str, torch.Tensor], trained: dict[str, torch.Tensor], alpha: float) -> dict[str, torch.Tensor]:
    """``(1 - alpha) × start + alpha × trained``, every floating-point tensor; integer buffers (position ids) as trained."""
    return {key: torch.lerp(start[key], value, alpha) if value.is_floating_point() else value for key, value in trained.items()}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("run", type=Path)
    parser.add_argument("--start", choices=["initial", "baseline"], default="initial")
    parser.add_argument("--trained", choices=["student", "baseline"], default="student")
    parser.add_argument("--alphas", default="0,0.25,0.5,0.75,1")
    parser.add_argument("--research-data", type=Path)
    parser.add_argument("--research-queries", type=int, default=150)
    args = parser.parse_args()
    config = load_config(QuickstartConfig, args.run / "config.yaml", [])
    train_set = load_dataset(config.data or DEFAULT_DATASET, config.train_split)
    if args.research_data:
        validation = research_validation(config, args.research_data, args.research_queries, train_set.qrels)
    else:
        validation = held_out_validation(config, train_set)
        assert set(validation.queries) == set((args.run / "validation_qids.txt").read_text().split())
    settings = validation_settings(config)
    start = load(args.run, config, args.start).encoder.state_dict()
    # the trained model is loaded once and overwritten by each mix, so its own weights are kept aside
    model = load(args.run, config, args.trained)
    trained = {key: value.clone() for key, value in model.encoder.state_dict().items()}
    found = {}
    for alpha in (float(a) for a in args.alphas.split(",")):
        model.encoder.load_state_dict(averaged(start, trained, alpha))
        found[alpha] = validation_score(model, validation, settings.metric, settings.rel, bf16=config.bf16)
        print(f"alpha {alpha}: {settings.metric} {found[alpha]:.4f}", flush=True)
    print(json.dumps({"start": args.start, "trained": args.trained, "queries": len(validation.queries), "validation": found}))


if __name__ == "__main__":
    main()
