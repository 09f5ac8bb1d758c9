"""Seconds per training step: pairwise Margin-MSE against dual supervision (ColBERT on the fly, ColBERT cached)
and against sentence-transformers' ``MarginMSELoss``.

Usage: python bench/train_step.py [--model M] [--colbert C] [--data BEIR_FOLDER] [--batch-size 32] [--steps 3]
                                  [--warmup 1] [--no-bf16]

Four variants train the same student weights (each its own copy, with its own Adam) on the same fixed
batches — b SciFact train queries, their judged positive, a random negative, random teacher margins —
with queries capped at 30 tokens and passages at 200:

  pairwise               tasb's trainer step (``tasb.training.trainer.train_step``), ``teacher_mode: pairwise``
  dual_on_the_fly        the same step, ``teacher_mode: dual``, ColBERT encoding the batch's 2b passages every step
  dual_cached            the same step, ``teacher_mode: dual``, ColBERT passage vectors from a cache built beforehand
  sentence_transformers  ``MarginMSELoss`` on the same SentenceTransformer, columns tokenized as its collator does

Every step includes tokenization, the forward under bf16 autocast, backward and the Adam step. The
variants take turns step by step (a, b, c, st, then b, c, st, a, ...: the lead rotates) so machine noise
hits them alike; the median of the measured steps counts. The cache is built before any step and timed
apart. Targets: dual_on_the_fly ≤ 1.25 x pairwise, dual_cached ≤ 1.10 x pairwise, and sentence_transformers
/ pairwise ≥ 1.0 (ours no slower). Without the data folder, synthetic texts of about 200 tokens stand in
(the JSON says so). Prints a table, then as the last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import time
from pathlib import Path
from typing import Callable

import torch
from sentence_transformers import SentenceTransformer
from sentence_transformers.sentence_transformer.losses import MarginMSELoss
from transformers import get_constant_schedule_with_warmup

from tasb.config import TrainConfig
from tasb.data import DATA_DIR_ENV, Dataset, ScoredPair, load_dataset
from tasb.models.colbert import ColBERT
from tasb.models.inference import autocast
from tasb.models.resolve import read_tasb_meta, resolve_model
from tasb.models.student import BertDot
from tasb.training.colbert_teacher import ColbertTeacher
from tasb.training.trainer import train_step

MODEL = "all-MiniLM-L6-v2"
QUERY_MAX_LENGTH = 30
PASSAGE_MAX_LENGTH = 200
SEED = 42
TARGETS = {"dual_on_the_fly": ("<=", 1.25), "dual_cached": ("<=", 1.10), "sentence_transformers_over_ours": (">=", 1.0)}
VARIANTS = ("pairwise", "dual_on_the_fly", "dual_cached", "sentence_transformers")
# one word, one token in MiniLM's vocabulary: synthetic passages of 200 words fill the 200-token cap
SYNTHETIC_WORDS = (
    "cell protein gene expression patient study risk disease cancer treatment effect increase level blood "
    "brain heart response signal mouse human trial dose therapy growth factor tissue immune virus infection "
    "model data result analysis group control rate change high low early clinical acid receptor"
).split()

Step = Callable[[list[ScoredPair]], object]


def default_data() -> Path:
    root = os.environ.get(DATA_DIR_ENV)
    return (Path(root) if root else Path(__file__).resolve().parents[2] / "shared" / "data") / "scifact"


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default=MODEL, help="the student: a model folder or name")
    parser.add_argument("--colbert", default=MODEL, help="the ColBERT teacher: a ColBERT folder, or any model (started with no projection)")
    parser.add_argument("--data", type=Path, default=default_data(), help="a BEIR folder with a train split")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--steps", type=int, default=3, help="measured steps per variant")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured steps per variant, before the measured ones")
    parser.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args(argv)
    if args.batch_size < 1 or args.steps < 1 or args.warmup < 0:
        parser.error("--batch-size and --steps must be at least 1, --warmup at least 0")
    return args


def load_texts(folder: Path) -> tuple[Dataset, str]:
    """SciFact's train queries and corpus; synthetic texts when the folder is missing."""
    if (folder / "corpus.jsonl").is_file() or (folder / "corpus.jsonl.gz").is_file():
        dataset = load_dataset(str(folder), split="train")
        return dataset, f"{folder.name} train"
    rng = random.Random(SEED)
    corpus = {f"p{i}": " ".join(rng.choices(SYNTHETIC_WORDS, k=PASSAGE_MAX_LENGTH)) for i in range(2000)}
    queries = {f"q{i}": " ".join(rng.choices(SYNTHETIC_WORDS, k=rng.randint(8, 20))) for i in range(500)}
    qrels = {qid: {f"p{rng.randrange(len(corpus))}": 1} for qid in queries}
    return Dataset(corpus, queries, qrels, source="synthetic"), f"synthetic (no corpus.jsonl in {folder})"


def make_batches(dataset: Dataset, batch_size: int, count: int) -> list[list[ScoredPair]]:
    """``count`` batches of distinct queries, each with a judged positive, a random negative and random margins."""
    rng = random.Random(SEED)
    positives = {qid: sorted(pid for pid, grade in dataset.qrels.get(qid, {}).items() if grade > 0 and pid in dataset.corpus)
                 for qid in dataset.queries}
    qids = sorted(qid for qid, pids in positives.items() if pids)
    if len(qids) < batch_size:
        raise SystemExit(f"{dataset.source}: {len(qids)} queries with a positive, fewer than --batch-size {batch_size}")
    pids = sorted(dataset.corpus)
    batches = []
    for _ in range(count):
        batch = []
        for qid in rng.sample(qids, batch_size):
            negative = rng.choice(pids)
            while negative in positives[qid]:
                negative = rng.choice(pids)
            batch.append(ScoredPair(rng.gauss(2.0, 1.0), rng.gauss(0.0, 1.0), qid, rng.choice(positives[qid]), negative))
        batches.append(batch)
    return batches


def load_student(name: str) -> BertDot:
    # each variant gets its own copy: the weights start equal, and no variant's Adam steps move another's
    student = BertDot.load(name, query_max_length=QUERY_MAX_LENGTH, passage_max_length=PASSAGE_MAX_LENGTH)
    student.encoder.train()
    return student


def tasb_step(student: BertDot, dataset: Dataset, config: TrainConfig, teacher: ColbertTeacher | None) -> Step:
    """The trainer's own step (``tasb.training.trainer.train_step``): the loss, Adam and schedule ``train`` uses."""
    return train_step(config, dataset, student, teacher)


def st_step(model: str, dataset: Dataset, config: TrainConfig) -> Step:
    """What sentence-transformers' trainer does per step, without its data loader and logging around it.

    Its collator runs ``model.preprocess`` once per column (query, positive, negative) with the
    SentenceTransformer's ``max_seq_length`` (200), or a ``max_length`` override, which caps the queries
    at 30 as ours are; ``MarginMSELoss`` then embeds the query column alone and the two passage columns
    in one merged forward.
    """
    encoder: SentenceTransformer = load_student(model).encoder
    encoder.max_seq_length = PASSAGE_MAX_LENGTH
    loss_fn = MarginMSELoss(encoder)
    optimizer = torch.optim.Adam(encoder.parameters(), lr=config.learning_rate)
    scheduler = get_constant_schedule_with_warmup(optimizer, config.warmup_steps)

    def step(batch: list[ScoredPair]) -> None:
        features = [
            encoder.preprocess([dataset.queries[pair.qid] for pair in batch], max_length=QUERY_MAX_LENGTH),
            encoder.preprocess([dataset.corpus[pair.pid_pos] for pair in batch]),
            encoder.preprocess([dataset.corpus[pair.pid_neg] for pair in batch]),
        ]
        labels = torch.tensor([pair.margin for pair in batch], dtype=torch.float32)
        with autocast(config.bf16, encoder.device.type):
            loss = loss_fn(features, labels)
        # our step reads the loss every step to check it is finite: the same sync here keeps the work equal
        loss.item()
        loss.backward()
        optimizer.step()
        scheduler.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def load_colbert(name: str) -> ColBERT:
    # a saved ColBERT keeps its projection; any other model starts in its own token space (dim 0)
    is_colbert = read_tasb_meta(resolve_model(name)).get("architecture") == "ColBERT"
    return ColBERT.load(name, dim=None if is_colbert else 0, query_max_length=QUERY_MAX_LENGTH, passage_max_length=PASSAGE_MAX_LENGTH)


def mean_passage_tokens(student: BertDot, dataset: Dataset, pids: list[str]) -> float:
    ids = student.tokenizer([dataset.corpus[pid] for pid in pids], truncation=True, max_length=PASSAGE_MAX_LENGTH)["input_ids"]
    return sum(map(len, ids)) / len(ids)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    torch.manual_seed(SEED)
    dataset, data_note = load_texts(args.data)
    batches = make_batches(dataset, args.batch_size, args.warmup + args.steps)
    pids = sorted({pid for batch in batches for pair in batch for pid in (pair.pid_pos, pair.pid_neg)})

    pairwise = TrainConfig(batch_size=args.batch_size, teacher_mode="pairwise", bf16=args.bf16)
    dual = TrainConfig(batch_size=args.batch_size, teacher_mode="dual", bf16=args.bf16, colbert_teacher=args.colbert)
    colbert = load_colbert(args.colbert)
    on_the_fly = ColbertTeacher.build(colbert, dataset.corpus, pids, "never", scale=dual.colbert_scale, bf16=args.bf16)
    started = time.perf_counter()
    cached = ColbertTeacher.build(colbert, dataset.corpus, pids, "always", max_gb=dual.colbert_cache_max_gb,
                                  scale=dual.colbert_scale, bf16=args.bf16)
    build_s = time.perf_counter() - started
    cache = cached.cache
    assert cache is not None and all(pid in cache for pid in pids)

    pairwise_student = load_student(args.model)
    steps: dict[str, Step] = {
        "pairwise": tasb_step(pairwise_student, dataset, pairwise, None),
        "dual_on_the_fly": tasb_step(load_student(args.model), dataset, dual, on_the_fly),
        "dual_cached": tasb_step(load_student(args.model), dataset, dual, cached),
        "sentence_transformers": st_step(args.model, dataset, pairwise),
    }
    seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
    for round_, batch in enumerate(batches):
        # whoever goes first on a batch may pay for its new input shapes (oneDNN builds kernels per shape), so the lead rotates
        lead = round_ % len(VARIANTS)
        for name in VARIANTS[lead:] + VARIANTS[:lead]:
            started = time.perf_counter()
            steps[name](batch)
            if round_ >= args.warmup:
                seconds[name].append(time.perf_counter() - started)

    median = {name: statistics.median(times) for name, times in seconds.items()}
    ratios = {
        "dual_on_the_fly": median["dual_on_the_fly"] / median["pairwise"],
        "dual_cached": median["dual_cached"] / median["pairwise"],
        "sentence_transformers_over_ours": median["sentence_transformers"] / median["pairwise"],
    }
    met = {name: (ratios[name] <= bound if op == "<=" else ratios[name] >= bound) for name, (op, bound) in TARGETS.items()}
    cache_gb = cache.nbytes / 2**30
    passage_tokens = mean_passage_tokens(pairwise_student, dataset, pids)

    print(f"data: {data_note}; student {args.model}, ColBERT {args.colbert} (dim {colbert.dim})")
    print(f"batch {args.batch_size}: {args.batch_size} queries ≤{QUERY_MAX_LENGTH} tokens, {2 * args.batch_size} passages "
          f"≤{PASSAGE_MAX_LENGTH} tokens (mean {passage_tokens:.0f}); bf16 {'on' if args.bf16 else 'off'}; "
          f"{args.warmup} warmup + {args.steps} measured steps per variant; {torch.get_num_threads()} torch threads")
    print(f"ColBERT cache: {len(cache)} passages, {cache_gb * 1024:.1f} MB, built in {build_s:.1f} s (not in any step)")
    print(f"{'variant':<24}{'median s':>10}{'x pairwise':>12}   all steps s")
    for name in VARIANTS:
        steps_s = ", ".join(f"{t:.2f}" for t in seconds[name])
        print(f"{name:<24}{median[name]:>10.3f}{median[name] / median['pairwise']:>12.3f}   {steps_s}")
    for name, (op, bound) in TARGETS.items():
        print(f"target {name} {op} {bound}: {ratios[name]:.3f} {'met' if met[name] else 'NOT met'}")
    return {
        "model": args.model,
        "colbert": args.colbert,
        "data": data_note,
        "batch_size": args.batch_size,
        "steps": args.steps,
        "warmup": args.warmup,
        "bf16": args.bf16,
        "torch_threads": torch.get_num_threads(),
        "query_max_length": QUERY_MAX_LENGTH,
        "passage_max_length": PASSAGE_MAX_LENGTH,
        "mean_passage_tokens": round(passage_tokens, 1),
        "seconds_per_step": {name: round(value, 4) for name, value in median.items()},
        "all_seconds": {name: [round(t, 4) for t in times] for name, times in seconds.items()},
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
        "targets": {name: f"{op} {bound}" for name, (op, bound) in TARGETS.items()},
        "targets_met": met,
        "cache": {"passages": len(cache), "gb": round(cache_gb, 4), "build_s": round(build_s, 2)},
    }


if __name__ == "__main__":
    print(json.dumps(main()))
