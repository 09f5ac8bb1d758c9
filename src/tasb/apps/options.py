"""The options several commands take, each spelled once with the config key it sets (``docs/cli.md`` is their
vocabulary), the sets of them commands share, and what those commands share in reading them."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from tasb.apps.command import Opt
from tasb.config import Checked, DataConfig, Scoring
from tasb.errors import InputError

if TYPE_CHECKING:
    from tasb.data import Corpus, Dataset, Run
    from tasb.retrieval.scorers import Scorer


def option(name: str, kind: Any, flag: str, help: str, key: str = "") -> Opt:
    """``--flag`` setting config key ``key`` (default: ``name``), its value of type ``kind``."""
    return Opt(name, Annotated[kind, typer.Option(*flag.split(" "), help=help)], key)


def argument(name: str, kind: Any, help: str, key: str = "") -> Opt:
    return Opt(name, Annotated[kind, typer.Argument(help=help, show_default=False)], key)


def described(opt: Opt, help: str) -> Opt:
    """``opt`` with the help its command gives it (what ``--out`` writes differs from command to command)."""
    kind, info = opt.annotation.__origin__, copy.copy(opt.annotation.__metadata__[0])
    info.help = help
    return Opt(opt.name, Annotated[kind, info], opt.key, opt.default)


# where queries, passages and judgments come from: the data section (DataConfig)
DATA_DIR = option("data", Optional[str], "--data", "BEIR folder, a name under $TASB_DATA_DIR, or irds:ID", "data.data")
SPLIT = option("split", str, "--split", "the BEIR folder's split: qrels/<split>.tsv", "data.split")
CORPUS = option("corpus", Optional[Path], "--corpus", "passages: BEIR JSONL or TSV pid<TAB>text", "data.corpus")
QUERIES = option("queries", Optional[Path], "--queries", "queries: BEIR JSONL or TSV qid<TAB>text", "data.queries")
QRELS = option("qrels", Optional[Path], "--qrels", "judgments: TREC 'qid 0 pid grade' or BEIR TSV", "data.qrels")
DATA = (DATA_DIR, SPLIT, CORPUS, QUERIES, QRELS)
QUERY_DATA = (DATA_DIR, SPLIT, QUERIES, QRELS)

OUT = option("out", Optional[Path], "--out", "where to write")
RUN = option("run", Optional[Path], "--run", "a TREC run: qid Q0 pid rank score tag")
INDEX = option("index", Optional[Path], "--index", "index folder from `tasb index`")
MODEL = option("model", Optional[str], "--model", "BERT_DOT folder or name; default: the model that built the index")
K = option("k", int, "--k", "passages returned per query")
REL = option("rel", int, "--rel", "lowest grade RR, recall and the like count as relevant (TREC-DL: 2); nDCG uses the grades")
RANDOM_SEED = option("seed", int, "--seed", "the seed every random choice derives from")
BATCH_SIZE = option("batch_size", int, "--batch-size", "texts per forward pass")
BF16 = option("bf16", bool, "--bf16/--no-bf16", "bf16 autocast: ~2x faster on AVX-512-BF16 CPUs")
DEVICE = option("device", str, "--device", "where models run: auto (a GPU if torch sees one, else the CPU), cpu, cuda, cuda:N, mps")
MAX_LENGTH = option("max_length", Optional[int], "--max-length", "cross-encoder token cap; default: the model's")
JSON = option("json", bool, "--json", "print one JSON object")

# what scores (query, passage) pairs: a scorer spec, or several as an ensemble (retrieval.build_scorer)
SCORERS = (
    option(
        "scorer", Optional[list[str]], "--scorer",
        "cross-encoder folder or name ([ce:]MODEL), colbert:MODEL, dot:MODEL or bm25; repeat for an ensemble", "scorers",
    ),
    option("weight", Optional[list[float]], "--weight", "ensemble weight per --scorer, in order; default: equal", "weights"),
)
RERANK_DEPTH = option("rerank_depth", int, "--rerank-depth", "candidates per query the scorer re-ranks; the rest keep their order below")
NEGATIVES_DEPTH = option("negatives_depth", int, "--negatives-depth", "negatives come from each query's top this many of the run")

# a run's top candidates re-ranked by scorers: tasb rerank, tasb teacher eval
RERANKING = (*SCORERS, described(RUN, "candidates to re-rank (TREC run)"), *DATA, RERANK_DEPTH, MAX_LENGTH, BF16, DEVICE)
# an index searched with queries by the model that built it: tasb search, tasb ann-recall
DENSE_SEARCH = (INDEX, *QUERY_DATA, MODEL, DEVICE)


@dataclasses.dataclass
class HeldOut:
    """Queries a teacher neither learns from nor scores: tasb teacher train, train-colbert and score."""

    # a file of query ids, one per line: the student's validation queries (tasb train's validation.qids). A
    # student validated on queries its teacher learned from looks better than it is
    validation_qids: str = ""

    def teacher_data(self, data: DataConfig, need_qrels: bool = True) -> tuple["Dataset", set[str]]:
        """``data`` without the queries of ``validation_qids`` and their judgments, and the ids left out."""
        from tasb.training.validation import read_validation_qids

        # the held-out ids are checked against the judgments: a validation query must have a judged passage
        dataset = load(data, need_qrels=need_qrels or bool(self.validation_qids))
        if not self.validation_qids:
            return dataset, set()
        held_out = set(read_validation_qids(Path(self.validation_qids), dataset))
        kept = {qid: text for qid, text in dataset.queries.items() if qid not in held_out}
        qrels = {qid: judged for qid, judged in dataset.qrels.items() if qid not in held_out}
        return dataclasses.replace(dataset, queries=kept, qrels=qrels), held_out


VALIDATION_QIDS = option(
    "validation_qids", Optional[Path], "--validation-qids",
    "query ids, one per line, the student validates on (tasb train's validation.qids): left out of what the teacher learns from or scores",
)


@dataclasses.dataclass
class TeacherTraining(HeldOut, Checked):
    """What a teacher trains on and where it goes, beside its recipe: tasb teacher train and train-colbert."""

    out: str = ""
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    # the run negatives come from; empty: BM25's top negatives_depth
    run: str = ""

    required = {"out": "a folder for the teacher"}


# a teacher trained on judged positives and a run's negatives (TeacherTraining): tasb teacher train, train-colbert
TEACHER_TRAINING = (
    described(OUT, "folder for the teacher (model/ and teacher_log.jsonl)"), *DATA, VALIDATION_QIDS,
    described(RUN, "negatives come from this run; default: BM25's top negatives_depth"), DEVICE,
)


def load(config: DataConfig, need_qrels: bool = True) -> "Dataset":
    from tasb.data import load_dataset

    return load_dataset(config.data, config.split, config.corpus, config.queries, config.qrels, need_qrels=need_qrels)


def scorer_of(config: Scoring, corpus: "Corpus") -> "Scorer":
    from tasb.retrieval.scorers import build_scorer

    return build_scorer(config.scorers, config.weights, corpus, max_length=config.max_length, bf16=config.bf16, device=config.device)


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


def negatives_run(run: str, dataset: "Dataset", depth: int) -> "Run":
    """Where a teacher's training negatives come from: ``run`` (over the dataset's corpus), else BM25's top ``depth``."""
    from tasb.retrieval.bm25 import bm25_search

    return read_run_of(run, dataset) if run else bm25_search(dataset.corpus, dataset.queries, k=depth)


def open_index(index_dir: str | Path, data: DataConfig, model: str | None, device: str):
    """An index folder, the queries to search it with, and the student that built it (or ``model``) on ``device``,
    set up as its meta.json describes and checked against it."""
    from tasb.data import load_queries
    from tasb.retrieval.index import DenseIndex, load_index_model

    dense = DenseIndex.load(index_dir)
    topics, _ = load_queries(data.data, data.split, data.queries, data.qrels, need_qrels=False)
    return dense, topics, load_index_model(dense, model, device)
