"""Index encoding throughput: tasb's ``build_index`` (bf16 and fp32) against sentence-transformers' ``encode``.

Usage: python bench/encode.py [BEIR folder or corpus file] [--model M] [--docs 1000] [--rounds 2]
       (default data: scifact under $TASB_DATA_DIR, else ../shared/data)

All three encoders run the same weights (all-MiniLM-L6-v2 unless --model) on the first 1,000 passages,
capped at 200 tokens, batch 32, in one process (same thread count). Each is warmed up, then timed in rounds whose
order alternates so neither side profits from a warmer cache; the best round counts. Prints a table,
the agreement of the vectors, and as the last line one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from sentence_transformers import SentenceTransformer

from tasb.data import DATA_DIR_ENV, read_corpus
from tasb.models.resolve import resolve_model
from tasb.models.student import BertDot
from tasb.retrieval.index import build_index

MODEL = "all-MiniLM-L6-v2"
DOCS = 1000
MAX_LENGTH = 200
BATCH = 32
ROUNDS = 2
WARMUP_DOCS = 64

Encoder = Callable[[dict[str, str]], np.ndarray]


def default_data() -> Path:
    return Path(os.environ.get(DATA_DIR_ENV, Path(__file__).resolve().parents[2] / "shared" / "data")) / "scifact"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", type=Path, default=default_data(), help="a BEIR folder or a corpus file")
    parser.add_argument("--model", default=MODEL, help="a model folder or name")
    parser.add_argument("--docs", type=int, default=DOCS, help="passages encoded (the corpus's first)")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="timed rounds per encoder; the best counts")
    args = parser.parse_args(argv)
    if args.docs < 1 or args.rounds < 1:
        parser.error("--docs and --rounds must be at least 1")
    return args


def load_passages(source: Path, docs: int) -> dict[str, str]:
    corpus_file = source / "corpus.jsonl" if source.is_dir() else source
    corpus = read_corpus(corpus_file)
    return dict(list(corpus.items())[:docs])


def tasb_encoder(model: BertDot, bf16: bool, workdir: Path, model_name: str) -> Encoder:
    def encode(corpus: dict[str, str]) -> np.ndarray:
        index = build_index(model, corpus, workdir / f"index-{'bf16' if bf16 else 'fp32'}", batch_size=BATCH, bf16=bf16, model_name=model_name)
        return np.array(index.embeddings)

    return encode


def st_encoder(model: SentenceTransformer) -> Encoder:
    def encode(corpus: dict[str, str]) -> np.ndarray:
        return model.encode(list(corpus.values()), batch_size=BATCH, show_progress_bar=False, convert_to_numpy=True)

    return encode


def timed(encode: Encoder, corpus: dict[str, str]) -> tuple[float, np.ndarray]:
    start = time.perf_counter()
    vectors = encode(corpus)
    return time.perf_counter() - start, vectors


def mean_and_min_cosine(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return float(cos.mean()), float(cos.min())


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    corpus = load_passages(args.source, args.docs)
    st_model = SentenceTransformer(resolve_model(args.model), device="cpu")
    st_model.max_seq_length = MAX_LENGTH
    tasb_model = BertDot.load(args.model, passage_max_length=MAX_LENGTH)
    with tempfile.TemporaryDirectory() as tmp:
        encoders = {
            "tasb bf16": tasb_encoder(tasb_model, True, Path(tmp), args.model),
            "tasb fp32": tasb_encoder(tasb_model, False, Path(tmp), args.model),
            "st encode": st_encoder(st_model),
        }
        warmup = dict(list(corpus.items())[:WARMUP_DOCS])
        for encode in encoders.values():
            encode(warmup)
        seconds: dict[str, list[float]] = {name: [] for name in encoders}
        vectors: dict[str, np.ndarray] = {}
        names = list(encoders)
        for round_ in range(args.rounds):
            for name in names if round_ % 2 == 0 else names[::-1]:
                elapsed, vectors[name] = timed(encoders[name], corpus)
                seconds[name].append(elapsed)

    n = len(corpus)
    pps = {name: n / min(times) for name, times in seconds.items()}
    st_cos = mean_and_min_cosine(vectors["tasb fp32"], vectors["st encode"])
    bf16_cos = mean_and_min_cosine(vectors["tasb bf16"], vectors["tasb fp32"])

    print(f"{n} passages of {args.source}, {args.model}, max {MAX_LENGTH} tokens, batch {BATCH}, {torch.get_num_threads()} torch threads")
    print(f"{'encoder':<12}{'best s':>9}{'all rounds s':>22}{'passages/s':>12}{'vs st':>8}")
    for name, times in seconds.items():
        rounds = ", ".join(f"{t:.1f}" for t in times)
        print(f"{name:<12}{min(times):>9.2f}{rounds:>22}{pps[name]:>12.1f}{pps[name] / pps['st encode']:>8.2f}")
    print(f"cosine tasb fp32 vs st: mean {st_cos[0]:.6f}, min {st_cos[1]:.6f}")
    print(f"cosine tasb bf16 vs tasb fp32: mean {bf16_cos[0]:.6f}, min {bf16_cos[1]:.6f}")
    return {
        "model": args.model,
        "docs": n,
        "tasb_bf16_pps": round(pps["tasb bf16"], 2),
        "tasb_fp32_pps": round(pps["tasb fp32"], 2),
        "st_encode_pps": round(pps["st encode"], 2),
        "ratio_bf16": round(pps["tasb bf16"] / pps["st encode"], 3),
        "ratio_fp32": round(pps["tasb fp32"] / pps["st encode"], 3),
        "cos_fp32_vs_st_mean": round(st_cos[0], 6),
        "cos_bf16_vs_fp32_mean": round(bf16_cos[0], 6),
    }


if __name__ == "__main__":
    print(json.dumps(main()))
