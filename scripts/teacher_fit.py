"""What the quickstart's teacher fit chooses on a finished quickstart's held-out queries (docs/student.md,
"The teacher's weights fitted on the held-out queries").

    python scripts/teacher_fit.py runs/quickstart

Scores the run's held-out validation candidates with BM25, the initial student, the run's ColBERT and baseline,
and prints one JSON object: each member alone, then the fit (the weights as set, the grid's best, the
best's leave-one-out score, its paired t-test against the weights as set, and the weights chosen), as the
quickstart's metrics.json holds it.
"""

import dataclasses
import json
import sys
from pathlib import Path

from quickstart_members import run_members

from tasb.apps.quickstart import QuickstartConfig, held_out_validation, load_splits, validation_settings
from tasb.config import load_config
from tasb.training.validation import best_weights, ensemble_per_query, mean


def main() -> None:
    run = Path(sys.argv[1])
    config = load_config(QuickstartConfig, run / "config.yaml", [])
    train_set, _ = load_splits(config)
    validation = held_out_validation(config, train_set)
    assert set(validation.queries) == set((run / "validation_qids.txt").read_text().split())
    members = run_members(run, config, train_set.corpus)
    settings = validation_settings(config)
    scores = {name: m.score(validation.candidates, validation.queries, validation.corpus) for name, m in members.items()}
    alone = {name: mean(ensemble_per_query(scores, {name: 1.0}, validation.qrels, settings.metric, settings.rel)) for name in scores}
    prior = {name: w for name, w in config.teacher_ensemble.items() if name in members}
    fit = best_weights(scores, validation.qrels, settings.metric, settings.rel, prior=prior)
    print(json.dumps({"queries": len(validation.queries), "alone": alone, "fit": dataclasses.asdict(fit)}))


if __name__ == "__main__":
    main()
