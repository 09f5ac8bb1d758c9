"""``tasb ann-recall``: how much of the exact top-k an index's (approximate) search finds."""

from __future__ import annotations

import dataclasses
import json

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import DENSE_SEARCH, open_index, option
from tasb.config import AT_LEAST_1, DataConfig, Placement


@dataclasses.dataclass
class AnnRecallConfig(Placement):
    """``tasb ann-recall``: recall of an index's search against exact search over the same vectors."""

    index: str = ""
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    # None: the model that built the index
    model: str | None = None
    # how many of the exact top passages the index's search is asked to find
    recall_depth: int = 10

    limits = {"recall_depth": AT_LEAST_1}
    required = {"index": "an index folder"}


def run_ann_recall(config: AnnRecallConfig) -> dict:
    """The index type, the number of queries and recall at ``recall_depth``, as printed."""
    index_folder, texts, student = open_index(config.index, config.data, config.model, config.device)
    vectors = student.encode_queries(list(texts.values()), bf16=index_folder.meta["bf16"])
    recall = index_folder.recall_against_exact(vectors, config.recall_depth)
    return {"index_type": index_folder.meta["index_type"], "queries": len(texts), f"recall@{config.recall_depth}": round(recall, 4)}


@tasb_command(
    AnnRecallConfig,
    "tasb ann-recall --index runs/index-hnsw --data scifact --split test --recall-depth 10",
    [*DENSE_SEARCH, option("recall_depth", int, "--recall-depth", "recall of the exact top this many passages")],
    aliases={"--k": "--recall-depth"},
)
def command(config: AnnRecallConfig) -> None:
    """Recall of an index's search against exact inner-product search over the same vectors and queries."""
    typer.echo(json.dumps(run_ann_recall(config)))
