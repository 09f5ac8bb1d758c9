"""``tasb ann-recall``: how much of the exact top-k an index's (approximate) search finds."""

from __future__ import annotations

import dataclasses
import json
from typing import Annotated

import typer

from tasb.apps.command import from_options, user_errors
from tasb.apps.options import DataOpt, IndexOpt, ModelOpt, QrelsOpt, QueriesOpt, SplitOpt, data_config, open_index
from tasb.config import AT_LEAST_1, Checked, DataConfig


@dataclasses.dataclass
class AnnRecallConfig(Checked):
    """``tasb ann-recall``: recall@k of an index's search against exact search over the same vectors."""

    index: str = ""
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    # None: the model that built the index
    model: str | None = None
    k: int = 10

    limits = {"k": AT_LEAST_1}


def run_ann_recall(config: AnnRecallConfig) -> dict:
    """The index type, the number of queries and recall@k, as printed."""
    index_folder, texts, student = open_index(config.index, config.data, config.model)
    vectors = student.encode_queries(list(texts.values()), bf16=index_folder.meta["bf16"])
    recall = index_folder.recall_against_exact(vectors, config.k)
    return {"index_type": index_folder.meta["index_type"], "queries": len(texts), f"recall@{config.k}": round(recall, 4)}


@user_errors
def command(
    index_dir: IndexOpt,
    data: DataOpt = None,
    split: SplitOpt = "test",
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    model: ModelOpt = None,
    k: Annotated[int, typer.Option(help="recall of the exact top-k")] = 10,
):
    """Recall@k of an index's search against exact inner-product search over the same vectors and queries."""
    config = from_options(AnnRecallConfig, index=str(index_dir), data=data_config(data, split, None, queries, qrels), model=model, k=k)
    typer.echo(json.dumps(run_ann_recall(config)))
