"""How hard the in-batch negatives of each sampler are, as the in-batch teacher (ColBERT) sees them
(docs/results-seeds.md, "Why the claim has little room").

TAS rests on one premise (the paper's section 3): batches drawn from one topic cluster give each query in-batch
negatives that are closer to it than random ones, so in-batch teaching has more to say. This script measures the
premise on a collection: it draws BATCHES batches from each sampler over a teacher score file (the trainer's
samplers, the trainer's batch size and seed), scores every query against the batch's 2b passages with the
ColBERT the dual teacher uses, and reports, for a query's 2b - 2 passages of other queries:

- above_negative: the fraction the teacher scores above the query's own mined negative (as hard as a mined one)
- above_positive: the fraction it scores above the query's own judged positive
- margin_to_negative: their mean score minus the query's negative's score (ColBERT's max-sim, unscaled)
- judged_relevant: the fraction judged relevant to the query (grade >= 1): a false negative to a label loss
- relevant_among_above_negative: of the passages above the query's own negative, the fraction judged relevant

per sampler as the mean over batches (the last over the batches with any passage above a negative), with Welch's
t-test of each sampler's per-batch values against Random.
Queries listed in --exclude (the grid's validation queries) are left out, as the trainer leaves them out.

Usage: python scripts/inbatch_hardness.py SCORES CLUSTERS COLBERT DATA [--split train] [--exclude QIDS]
       [--batch-size 16] [--batches 25] [--seed 42] [--samplers random,tas,tas-balanced]
The last line is one JSON object.
"""

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from tasb.data import load_dataset, read_clusters, read_scores
from tasb.models.colbert import ColBERT, PassageTokenCache
from tasb.sampling.factory import build_sampler
from tasb.sampling.stats import HARDNESS_MEASURES, inbatch_hardness
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.dual import label_masks, passage_ids


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("scores", type=Path)
    parser.add_argument("clusters", type=Path)
    parser.add_argument("colbert")
    parser.add_argument("data")
    parser.add_argument("--split", default="train")
    parser.add_argument("--exclude", type=Path, help="a file of qids (one per line) to leave out")
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--batches", type=int, default=25)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--samplers", default="random,tas,tas-balanced")
    args = parser.parse_args()

    dataset = load_dataset(args.data, args.split)
    excluded = set(args.exclude.read_text().split()) if args.exclude else set()
    pairs = [pair for pair in read_scores(args.scores) if pair.qid not in excluded]
    clusters = read_clusters(args.clusters)
    colbert = ColBERT.for_scoring(args.colbert)
    teacher = ColbertTeacher(colbert, dataset.corpus, PassageTokenCache(colbert))

    per_batch: dict[str, list[dict[str, float]]] = {}
    for name in args.samplers.split(","):
        sampler = build_sampler(name, pairs, args.batch_size, args.seed, clusters=clusters)
        batches = [next(sampler) for _ in range(args.batches)]
        teacher.cache.add([pid for batch in batches for pid in passage_ids(batch)], dataset.corpus)
        per_batch[name] = [
            inbatch_hardness(
                teacher.scores([dataset.queries[pair.qid] for pair in batch], passage_ids(batch)).numpy(),
                # the label part's mask of the batch's other passages judged relevant to each query
                label_masks(batch, dataset.qrels, torch.device("cpu"))[1].numpy(),
            )
            for batch in batches
        ]

    found = {"batch_size": args.batch_size, "batches": args.batches, "seed": args.seed, "pairs": len(pairs)}
    for name, values in per_batch.items():
        found[name] = {measure: round(float(np.nanmean([v[measure] for v in values])), 4) for measure in HARDNESS_MEASURES}
        if name != "random" and "random" in per_batch:
            found[name]["p_vs_random"] = {
                measure: float(stats.ttest_ind(
                    [v[measure] for v in values], [v[measure] for v in per_batch["random"]], equal_var=False, nan_policy="omit"
                ).pvalue)
                for measure in HARDNESS_MEASURES
            }
    print(json.dumps(found))


if __name__ == "__main__":
    main()
