"""The options several commands take, spelled once, and what they share in reading them."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from tasb.config import DataConfig
from tasb.errors import InputError

if TYPE_CHECKING:
    from tasb.data import Dataset, Run

DataOpt = Annotated[Optional[str], typer.Option("--data", help="BEIR folder, a name under $TASB_DATA_DIR, or irds:ID")]
SplitOpt = Annotated[str, typer.Option("--split", help="qrels split of the BEIR folder (qrels/<split>.tsv)")]
CorpusOpt = Annotated[Optional[Path], typer.Option("--corpus", help="passages: BEIR JSONL or TSV pid<TAB>text")]
QueriesOpt = Annotated[Optional[Path], typer.Option("--queries", help="queries: BEIR JSONL or TSV qid<TAB>text")]
QrelsOpt = Annotated[Optional[Path], typer.Option("--qrels", help="judgments: TREC 'qid 0 pid grade' or BEIR TSV")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="override a config field: key=value (repeatable)")]
Bf16Opt = Annotated[bool, typer.Option("--bf16/--no-bf16", help="bf16 autocast: ~2x faster on AVX-512-BF16 CPUs")]
ModelOpt = Annotated[Optional[str], typer.Option(help="default: the model that built the index")]
IndexOpt = Annotated[Path, typer.Option("--index", help="index folder from `tasb index`")]
TeacherOpt = Annotated[
    list[str],
    typer.Option("--teacher", help="cross-encoder folder/name ([ce:]MODEL), colbert:MODEL, bm25, or dot:MODEL; repeat to ensemble"),
]
WeightOpt = Annotated[Optional[list[float]], typer.Option("--weight", help="ensemble weight per --teacher")]
MaxLengthOpt = Annotated[Optional[int], typer.Option(help="cross-encoder token cap")]
TeacherOutOpt = Annotated[Path, typer.Option("--out", help="folder for the teacher (model/ and teacher_log.jsonl)")]

# a scorer spec list and its weights, as retrieval.build_scorer names them, given by these options
TEACHER_FLAGS = {"specs": "--teacher", "weights": "--weight"}


def data_config(data: str | None, split: str, corpus: Path | None = None, queries: Path | None = None, qrels: Path | None = None) -> DataConfig:
    """The data options as the config section every command reads its data from."""
    return DataConfig(data=data, split=split, corpus=text(corpus), queries=text(queries), qrels=text(qrels))


def text(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def load(config: DataConfig, need_qrels: bool = True) -> "Dataset":
    from tasb.data import load_dataset

    return load_dataset(config.data, config.split, config.corpus, config.queries, config.qrels, need_qrels=need_qrels)


def read_run_of(path: str | Path, dataset: "Dataset") -> "Run":
    """A run whose passages all have text in the dataset: a run from another corpus is refused up front."""
    from tasb.data import read_run
    from tasb.data.readers import line_naming

    run = read_run(path)
    missing = {pid for scores in run.values() for pid in scores if pid not in dataset.corpus}
    if missing:
        line, pid = line_naming(path, missing, (2,)) or (None, min(missing))
        raise InputError(path, f"passage ids of the corpus {dataset.source}", pid, line=line)
    return run


def open_index(index_dir: str | Path, data: DataConfig, model: str | None):
    """An index folder, the queries to search it with, and the student that built it (or ``model``) set up as
    its meta.json describes and checked against it."""
    from tasb.data import load_queries
    from tasb.retrieval.index import DenseIndex, load_index_model

    dense = DenseIndex.load(index_dir)
    topics, _ = load_queries(data.data, data.split, data.queries, data.qrels, need_qrels=False)
    return dense, topics, load_index_model(dense, model)
