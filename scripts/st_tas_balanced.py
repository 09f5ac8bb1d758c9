"""Train a sentence-transformers model with TAS-Balanced batches and dual supervision, in its own trainer.

    python scripts/st_tas_balanced.py --data ../shared/data/scifact --scores runs/quickstart/teacher_scores.tsv \
        --clusters runs/clusters/clusters.tsv --colbert runs/quickstart/colbert/model --out runs/st-tasb

The score file comes from `tasb teacher score` (or a quickstart), the clusters from `tasb cluster`, the
ColBERT from `tasb teacher train-colbert`. Without --colbert the teaching is pairwise only.
"""

from __future__ import annotations

import argparse

from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments

from tasb.data import load_dataset, read_scores
from tasb.data.readers import read_clusters
from tasb.models.colbert import ColBERT
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.st_plugins import DualSupervisionLoss, pairs_dataset, tas_batch_sampler


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True, help="a BEIR folder")
    parser.add_argument("--scores", required=True, help="teacher score file: score_pos score_neg qid pid_pos pid_neg")
    parser.add_argument("--clusters", required=True, help="qid<TAB>cluster")
    parser.add_argument("--colbert", help="a ColBERT folder: the in-batch teacher (dual supervision)")
    parser.add_argument("--model", default="all-MiniLM-L6-v2")
    parser.add_argument("--out", required=True)
    parser.add_argument("--steps", type=int, default=250)
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()

    data = load_dataset(args.data, "train")
    pairs = read_scores(args.scores)
    model = SentenceTransformer(args.model)
    # a cosine student's scores x 10 meet the teachers' z-scored margins; ColBERT's in-batch margins are ~2x those
    teacher = ColbertTeacher(ColBERT.load(args.colbert), data.corpus, scale=0.5) if args.colbert else None
    loss = DualSupervisionLoss(
        model, pairs, data.queries, mode="dual" if teacher else "pairwise", inbatch_teacher=teacher,
        score_scale=10.0, qrels=data.qrels, contrastive_weight=1.0,
    )
    training = SentenceTransformerTrainingArguments(
        output_dir=args.out, max_steps=args.steps, per_device_train_batch_size=args.batch_size, learning_rate=5e-5,
        warmup_ratio=0.1, bf16=True, use_cpu=True, save_strategy="no", report_to="none",
        batch_sampler=tas_batch_sampler(pairs, "tas-balanced", clusters=read_clusters(args.clusters)),
    )
    SentenceTransformerTrainer(model=model, args=training, train_dataset=pairs_dataset(pairs, data.queries, data.corpus), loss=loss).train()
    model.save(args.out + "/model")


if __name__ == "__main__":
    main()
