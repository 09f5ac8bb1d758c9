"""What the quickstart's teacher fit chooses on a finished quickstart's held-out queries (docs/student.md,
"The teacher's weights fitted on the held-out queries").

    python scripts/teacher_fit.py runs/quickstart

Scores the run's held-out validation candidates with BM25, the initial student, the run's ColBERT and baseline,
and prints one JSON object: each member alone, the weights as set, the fitted weights, and the paired t-test
between the best weighting and the weights as set.
"""

import json
import sys
from pathlib import Path

from tasb.apps.quickstart import QuickstartConfig, held_out_validation, load_splits, teacher_weights, validation_settings
from tasb.config import load_config
from tasb.evaluation.significance import paired_ttest
from tasb.models.colbert import ColBERT, PassageTokenCache
from tasb.models.student import BertDot
from tasb.retrieval.bm25 import BM25
from tasb.retrieval.index import DenseIndex
from tasb.retrieval.scorers import BM25Scorer, ColbertScorer, DotScorer
from tasb.training.validation import ensemble_per_query, ensemble_score, weight_grid


def dense(model: str, index: Path, name: str) -> DotScorer:
    vectors = DenseIndex.load(index)
    return DotScorer(BertDot.load(model), passage_vectors=dict(zip(vectors.ids, vectors.embeddings)), name=name)


def main() -> None:
    run = Path(sys.argv[1])
    config = load_config(QuickstartConfig, run / "config.yaml", [])
    train_set, _ = load_splits(config)
    validation = held_out_validation(config, train_set)
    assert set(validation.queries) == set((run / "validation_qids.txt").read_text().split())
    colbert = ColBERT.load(str(run / "colbert" / "model"))
    members = {
        "bm25": BM25Scorer(BM25(train_set.corpus)),
        "bi-encoder": dense(config.student.model, run / "index-initial", "bi-encoder"),
        "colbert": ColbertScorer(colbert, PassageTokenCache(colbert, bf16=True)),
        "baseline": dense(str(run / "baseline" / "model"), run / "index-baseline", "baseline"),
    }
    fitted, value = teacher_weights(config, members, validation)
    settings = validation_settings(config)
    scores = {name: m.score(validation.candidates, validation.queries, validation.corpus) for name, m in members.items()}
    as_set = {name: w for name, w in config.teacher_ensemble.items() if w > 0}
    best, best_value = max(weight_grid(scores, validation.qrels, settings.metric, settings.rel), key=lambda found: found[1])
    per_query = [ensemble_per_query(scores, w, validation.qrels, settings.metric, settings.rel) for w in (best, as_set)]
    print(json.dumps({
        "queries": len(validation.queries),
        "alone": {name: ensemble_score(scores, {name: 1.0}, validation.qrels, settings.metric, settings.rel) for name in scores},
        "as_set": [as_set, ensemble_score(scores, as_set, validation.qrels, settings.metric, settings.rel)],
        "best": [best, best_value], "p_best_vs_as_set": paired_ttest(*per_query), "fitted": [fitted, value],
    }))


if __name__ == "__main__":
    main()
