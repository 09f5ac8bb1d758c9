"""``tasb bench latency``: query encoding + search time per batch size of an index, the paper's Table 1."""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import DEVICE, INDEX, JSON, K, MODEL, QUERIES, described, option
from tasb.config import AT_LEAST_0, AT_LEAST_1, SEED, Placement
from tasb.errors import InputError


@dataclasses.dataclass
class LatencyConfig(Placement):
    """``tasb bench latency``: query encoding + search time per batch size, the paper's Table 1."""

    # an index folder from `tasb index` (any type); its model encodes the queries
    index: str = ""
    # query texts to time (TSV qid<TAB>text or BEIR JSONL); batches cycle through them
    queries: str = ""
    # None: the model the index was built with
    model: str | None = None
    batch_sizes: list[int] = dataclasses.field(default_factory=lambda: [1, 10, 100, 1000])
    k: int = 1000
    # each batch size is timed for at least this long and min_repeats batches, at most max_repeats
    seconds: float = 10.0
    min_repeats: int = 5
    max_repeats: int = 2000
    warmup: int = 3
    # a flat index of this many random vectors (the index's dimension) is timed too; 0 skips it
    synthetic: int = 1_000_000
    # None: encode queries as the index encoded its passages
    bf16: bool | None = None
    seed: int = 0
    # the figures as one JSON object rather than the table
    json: bool = False

    limits = {
        "batch_sizes": AT_LEAST_1, "k": AT_LEAST_1, "seconds": AT_LEAST_0, "min_repeats": AT_LEAST_1, "max_repeats": AT_LEAST_1,
        "warmup": AT_LEAST_0, "synthetic": AT_LEAST_0, "seed": SEED,
    }

    required = {
        "index": "an index folder from `tasb index`", "queries": "a query file (TSV qid<TAB>text or BEIR JSONL) whose texts are timed",
        "batch_sizes": "batch sizes of at least 1",
    }

    def validate(self) -> None:
        """Settings that cannot produce a measurement, refused before anything is loaded."""
        super().validate()
        if self.max_repeats < self.min_repeats:
            raise InputError("config", "1 <= min_repeats <= max_repeats", f"{self.min_repeats}, {self.max_repeats}")


def run_latency(config: LatencyConfig) -> dict:
    """Table 1 figures for the index folder and, unless ``synthetic`` is 0, a flat index of random vectors."""
    import numpy as np

    from tasb.config import check_config
    from tasb.data import read_queries
    from tasb.retrieval.index import DenseIndex, load_index_model
    from tasb.retrieval.latency import measure, synthetic_flat_index

    check_config(config)
    dense = DenseIndex.load(config.index)
    model = load_index_model(dense, config.model, config.device)
    texts = list(read_queries(config.queries).values())
    bf16 = dense.meta["bf16"] if config.bf16 is None else config.bf16

    def encode(batch: list[str]) -> np.ndarray:
        return model.encode_queries(batch, batch_size=len(batch), bf16=bf16)

    index_type = dense.meta.get("index_type", "flat")
    results = {
        "k": config.k,
        "bf16": bf16,
        "queries": len(texts),
        "systems": {"index": measure(dense.searcher(), index_type, encode, texts, config, str(dense.path))},
    }
    if config.synthetic:
        synthetic = synthetic_flat_index(config.synthetic, dense.meta["dim"], config.seed)
        results["systems"]["synthetic"] = measure(synthetic, "flat", encode, texts, config, f"{config.synthetic:,} random vectors")
        del synthetic
    return results


def latency_table(results: dict) -> str:
    """The figures as Table 1 rows: one per index and batch size."""
    from tasb.markdown import markdown_table

    header = [
        "index", "passages", "batch", "encode avg / p99 ms", "search avg / p99 ms", "total avg / p99 ms",
        "one query repeated: avg / p99 ms", "search ÷ memory bound",
    ]
    rows = []
    for system in results["systems"].values():
        for size, row in system["batches"].items():
            ratio = f"{row['bandwidth_ratio']:.2f}" if "bandwidth_ratio" in row else ""
            same = f"{row['same_query_avg_ms']:.1f} / {row['same_query_p99_ms']:.1f}" if "same_query_avg_ms" in row else ""
            rows.append([
                f"{system['type']}: {system['name']}", f"{system['passages']:,}", size,
                f"{row['encode_avg_ms']:.1f} / {row['encode_p99_ms']:.1f}", f"{row['search_avg_ms']:.1f} / {row['search_p99_ms']:.1f}",
                f"{row['avg_ms']:.1f} / {row['p99_ms']:.1f}", same, ratio,
            ])
    return "\n".join(markdown_table(header, rows))


@tasb_command(
    LatencyConfig,
    "tasb bench latency --index runs/index --queries queries.tsv --batch-size 1 --batch-size 100 --synthetic 0 --json",
    [
        described(INDEX, "index folder from `tasb index` (flat, hnsw or ivfpq)"),
        described(QUERIES.to("queries"), "query texts to time: TSV qid<TAB>text or BEIR JSONL"), MODEL,
        option("batch_size", Optional[list[int]], "--batch-size", "queries per batch to time (repeatable)", "batch_sizes"),
        described(K, "passages retrieved per query"),
        option("synthetic", int, "--synthetic", "also time a flat index of this many random vectors; 0 skips it"),
        option("seconds", float, "--seconds", "time budget per batch size (at least min_repeats batches)"),
        described(JSON, "print one JSON object instead of the table"), DEVICE,
    ],
)
def command(config: LatencyConfig) -> None:
    """Query encoding + search latency per batch size, average and p99 (Table 1); flat search vs its memory bound."""
    results = run_latency(config)
    typer.echo(json.dumps(results) if config.json else latency_table(results))
