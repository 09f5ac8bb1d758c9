"""The ``tasb`` command line: each command parses options into a config and calls one function."""

from __future__ import annotations

import contextlib
import errno
import functools
import json
import os
import re
import signal
import threading
from pathlib import Path
from typing import Annotated, Literal, Optional

import typer

from tasb.config import (
    ClusterConfig,
    ColbertConfig,
    DataConfig,
    ExperimentConfig,
    FuseConfig,
    IndexConfig,
    LatencyConfig,
    PipelinesConfig,
    QuickstartConfig,
    SampleConfig,
    ServeConfig,
    TeacherConfig,
    TrainConfig,
    check_options,
    load_config,
)
from tasb.errors import InputError

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Dense retrieval trained with TAS-Balanced (Hofstätter et al., SIGIR'21)."
)
teacher_app = typer.Typer(no_args_is_help=True, help="Teachers (BERT_CAT, ColBERT, ensembles): train, judge by re-ranking, score training pairs.")
app.add_typer(teacher_app, name="teacher")
index_app = typer.Typer(help="Encode passages into an index folder; `merge` joins shards, `verify` checks a folder.")
app.add_typer(index_app, name="index")
bench_app = typer.Typer(no_args_is_help=True, help="Measurements of speed: query latency per batch size (the paper's Table 1).")
app.add_typer(bench_app, name="bench")

DataOpt = Annotated[Optional[str], typer.Option("--data", help="BEIR folder, a name under $TASB_DATA_DIR, or irds:ID")]
SplitOpt = Annotated[str, typer.Option("--split", help="qrels split of the BEIR folder (qrels/<split>.tsv)")]
CorpusOpt = Annotated[Optional[Path], typer.Option("--corpus", help="passages: BEIR JSONL or TSV pid<TAB>text")]
QueriesOpt = Annotated[Optional[Path], typer.Option("--queries", help="queries: BEIR JSONL or TSV qid<TAB>text")]
QrelsOpt = Annotated[Optional[Path], typer.Option("--qrels", help="judgments: TREC 'qid 0 pid grade' or BEIR TSV")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", help="override a config field: key=value (repeatable)")]
Bf16Opt = Annotated[bool, typer.Option("--bf16/--no-bf16", help="bf16 autocast: ~2x faster on AVX-512-BF16 CPUs")]


def _user_errors(func):
    """Errors the user can fix are printed in one line and exit with status 2; bugs keep their traceback.

    What the operating system refuses (a read-only or full file system, no permission, a folder where a file
    goes) is the user's to fix too. A half-written output is removed as the error unwinds, and as SIGTERM
    unwinds: see ``_terminate_unwinds``.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            check_options(kwargs)  # every numeric option in range before any work
            with _terminate_unwinds():
                return func(*args, **kwargs)
        except InputError as err:
            typer.echo(f"error: {err}", err=True)
            raise typer.Exit(2) from None
        except OSError as err:
            typer.echo(f"error: {_os_error(err, kwargs.get('out'))}", err=True)
            raise typer.Exit(2) from None

    return wrapper


# tempfile's names for the atomic outputs of tasb.fsutil: ".NAME.XXXXXXXX.tmp", and ".NAME.old" while a folder is swapped
_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.(?:[a-z0-9_]{8}\.tmp|old)$")

_OS_PROBLEMS = {
    errno.EISDIR: "a file, got an existing folder",
    errno.ENOTDIR: "a folder, got a file on the path",
    errno.ENOSPC: "space to write, got a full file system",
    errno.EDQUOT: "space to write, got a full disk quota",
    errno.EROFS: "a writable place, got a read-only file system",
    errno.EACCES: "a file or folder this user may use, got permission denied",
    errno.EPERM: "a file or folder this user may use, got operation not permitted",
    errno.ENOENT: "an existing file or folder, got none",
}


def _os_error(err: OSError, out: object = None) -> str:
    """``err`` in one line: the file the user named (not the temp file written in its place) and what went wrong."""
    named = err.filename2 if err.filename2 is not None else err.filename
    # a failed write() carries no file name: the output being written is the likeliest one
    where = _user_path(named, out) if named is not None else (str(out) if out is not None else "input or output")
    problem = _OS_PROBLEMS.get(err.errno)
    if problem is not None:
        return f"{where}: expected {problem}"
    return f"{where}: {err.strerror or next(iter(str(err).splitlines()), '') or type(err).__name__}"


def _user_path(path: object, out: object = None) -> str:
    """``path`` with temp names undone, and as ``--out`` spelled it when it is (or lies in) that output."""
    parts = Path(path.decode(errors="replace") if isinstance(path, bytes) else str(path)).parts
    shown = Path(*[match["name"] if (match := _TEMP_NAME.match(part)) else part for part in parts]) if parts else Path(str(path))
    if out is not None:
        inside = os.path.relpath(os.path.abspath(shown), os.path.abspath(str(out)))
        if not inside.startswith(os.pardir):
            return str(out) if inside == os.curdir else str(Path(str(out)) / inside)
    return str(shown)


class _Terminated(SystemExit):
    """SIGTERM raised as an exception, exiting with the status a killed process has (128 + 15)."""


@contextlib.contextmanager
def _terminate_unwinds():
    """SIGTERM unwinds the command as Ctrl-C does, so outputs half written are removed on the way out.

    Python's default for SIGTERM ends the process on the spot, leaving hidden temp files behind (SIGKILL
    still does: no process can catch it). Signal handlers belong to the main thread only.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        # None: a handler installed outside Python, which cannot be put back; the default is the nearest
        signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)


def _raise_terminated(signum: int, frame: object) -> None:
    raise _Terminated(128 + signum)


def _command(group: typer.Typer = app, name: str | None = None):
    return lambda func: group.command(name=name)(_user_errors(func))


def _data(data, split, corpus, queries, qrels) -> DataConfig:
    return DataConfig(data=data, split=split, corpus=_str(corpus), queries=_str(queries), qrels=_str(qrels))


def _str(path: Path | None) -> str | None:
    return str(path) if path is not None else None


def _load(config: DataConfig, need_qrels: bool = True):
    from tasb.data import load_dataset

    return load_dataset(config.data, config.split, config.corpus, config.queries, config.qrels, need_qrels=need_qrels)


@_command()
def bm25(
    out: Annotated[Path, typer.Option("--out", help="TREC run file to write")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    k: Annotated[int, typer.Option(help="passages per query")] = 1000,
    k1: Annotated[float, typer.Option(help="BM25 k1 (Anserini's MS MARCO setting: 0.9)")] = 1.5,
    b: Annotated[float, typer.Option(help="BM25 b (Anserini's MS MARCO setting: 0.4)")] = 0.75,
):
    """BM25 (bm25s, English stemming) over the corpus → TREC run."""
    from tasb.data import write_run
    from tasb.retrieval.bm25 import bm25_search

    dataset = _load(_data(data, split, corpus, queries, qrels), need_qrels=False)
    write_run(bm25_search(dataset.corpus, dataset.queries, k=k, k1=k1, b=b), out, tag="bm25", k=k)
    typer.echo(f"wrote {out} ({len(dataset.queries)} queries)")


@index_app.callback(invoke_without_command=True)
@_user_errors
def index(
    ctx: typer.Context,
    out: Annotated[Optional[Path], typer.Option("--out", help="index folder to write")] = None,
    data: DataOpt = None,
    corpus: CorpusOpt = None,
    model: Annotated[str, typer.Option(help="BERT_DOT folder or name")] = "all-MiniLM-L6-v2",
    pooling: Annotated[Optional[str], typer.Option(help="cls or mean; default: what the model folder says")] = None,
    batch_size: Annotated[int, typer.Option(help="passages per forward pass")] = 32,
    bf16: Bf16Opt = True,
    device: Annotated[str, typer.Option(help="where the model encodes: cpu, cuda, cuda:1, ...")] = "cpu",
    index_type: Annotated[str, typer.Option("--type", help="flat (exact), hnsw or ivfpq (faiss, approximate)")] = "flat",
    source: Annotated[
        Optional[Path], typer.Option("--from", help="an index folder whose vectors (and model) to reuse: a new --type without encoding again")
    ] = None,
    shard: Annotated[
        Optional[str],
        typer.Option(
            "--shard",
            help="i/N: encode only shard i (0 to N-1) of N into OUT.shards/ (merge with `tasb index merge OUT`); "
            "all/N: every shard not yet done, then merge them into OUT (rerun to resume)",
        ),
    ] = None,
    overrides: SetOpt = None,
):
    """Encode every passage once into an index folder (embeddings.npy, ids.txt, meta.json; faiss.index if approximate)."""
    if ctx.invoked_subcommand is not None:
        # by name: typer carries its own copy of click, whose ParameterSource is not click's
        given = [p.opts[0] for p in ctx.command.params if getattr(ctx.get_parameter_source(p.name), "name", "DEFAULT") != "DEFAULT"]
        if given:
            raise InputError(
                f"tasb index {ctx.invoked_subcommand}", "its own options after its name (tasb index OPTIONS builds an index)", given[0]
            )
        return
    if out is None:
        raise InputError("--out", "the index folder to write (tasb index --corpus FILE --out DIR, or tasb index merge|verify DIR)")
    from tasb.data import load_corpus
    from tasb.models.student import BertDot
    from tasb.retrieval.index import DenseIndex, build_index, reindex
    from tasb.retrieval.shards import parse_shard_spec

    if pooling not in (None, "cls", "mean"):
        raise InputError("--pooling", "cls or mean", pooling)
    # IndexConfig fields other than the type (hnsw_m, nprobe, ...) come with --set
    ann = load_config(IndexConfig, None, [*(overrides or []), f"type={index_type}"])
    split = parse_shard_spec(shard) if shard is not None else None
    if split is not None and split[0] is not None and (overrides or index_type != "flat"):
        raise InputError("--type", "--type and --set only with --shard all/N or `tasb index merge` (a single shard is always flat)", shard)
    if source is not None:
        if data or corpus or split:
            raise InputError("--from", "either --from INDEX (its vectors) or --data/--corpus/--shard (passages to encode)", "both")
        built = reindex(DenseIndex.load(source), out, ann)
        typer.echo(f"wrote {out} ({built.meta['count']} passages from {source}, {built.meta['index_type']})")
        return
    passages = load_corpus(data, _str(corpus))
    student = BertDot.load(model, pooling=pooling, device=device)
    # an absolute path, so `tasb search` finds the model from any working directory
    recorded = str(Path(model).resolve()) if Path(model).exists() else model
    if split is None:
        built = build_index(student, passages, out, batch_size=batch_size, bf16=bf16, model_name=recorded, ann=ann)
    else:
        built = _index_shards(*split, student, passages, out, batch_size, bf16, recorded, ann)
    if built is not None:
        typer.echo(f"wrote {out} ({built.meta['count']} passages, dim {built.meta['dim']}, {built.meta['index_type']})")


def _index_shards(only: int | None, n: int, student, passages, out: Path, batch_size: int, bf16: bool, model_name: str, ann: IndexConfig):
    """``tasb index --shard``: shard ``only`` of ``n`` (no index yet: None), or with ``only`` None every shard and their merge."""
    from tasb.retrieval.shards import build_sharded_index, encode_shards, shard_dir

    def report(shard: int, status: str) -> None:
        said = {"done": "already done", "written": "written", "replaced": "written over one of another corpus or model"}[status]
        typer.echo(f"shard {shard}/{n} {said}: {shard_dir(out, shard, n)}")

    if only is None:
        return build_sharded_index(student, passages, out, n, batch_size, bf16, model_name, ann, report)
    encode_shards(student, passages, out, n, [only], batch_size, bf16, model_name, report)
    return None


@_command(index_app, name="merge")
def index_merge(
    out: Annotated[Path, typer.Argument(help="index folder to write; the shards are read from OUT.shards/")],
    index_type: Annotated[str, typer.Option("--type", help="flat (exact), hnsw or ivfpq (faiss, approximate)")] = "flat",
    overrides: SetOpt = None,
):
    """Join the shards of `tasb index --shard i/N --out OUT` into the index folder OUT, as if encoded in one go (shards are kept)."""
    from tasb.retrieval.shards import merge_shards

    ann = load_config(IndexConfig, None, [*(overrides or []), f"type={index_type}"])
    built = merge_shards(out, ann)
    typer.echo(f"wrote {out} ({built.meta['count']} passages from {built.meta['shards']} shards, {built.meta['index_type']})")


@_command(index_app, name="verify")
def index_verify(folder: Annotated[Path, typer.Argument(help="index folder to check")]):
    """Check an index folder's files against the sha256 checksums its meta.json recorded when it was written."""
    from tasb.retrieval.index import CHECKSUMMED, verify_folder

    problems = verify_folder(folder)
    if problems:
        raise InputError(folder, "files matching the checksums in meta.json", "; ".join(problems))
    checked = [name for name in CHECKSUMMED if (folder / name).is_file()]
    typer.echo(f"{folder}: intact ({', '.join(checked)} match meta.json)")


@_command(name="ann-recall")
def ann_recall(
    index_dir: Annotated[Path, typer.Option("--index", help="index folder from `tasb index`")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    model: Annotated[Optional[str], typer.Option(help="default: the model that built the index")] = None,
    k: Annotated[int, typer.Option(help="recall of the exact top-k")] = 10,
):
    """Recall@k of an index's search against exact inner-product search over the same vectors and queries."""
    index_folder, texts, student = _index_queries_model(index_dir, _data(data, split, None, queries, qrels), model)
    vectors = student.encode_queries(list(texts.values()), bf16=index_folder.meta["bf16"])
    recall = index_folder.recall_against_exact(vectors, k)
    typer.echo(json.dumps({"index_type": index_folder.meta["index_type"], "queries": len(texts), f"recall@{k}": round(recall, 4)}))


def _index_queries_model(index_dir: Path, data: DataConfig, model: str | None):
    """An index folder, the queries to search it with, and the student that built it (or ``model``) set up as
    its meta.json describes and checked against it."""
    from tasb.data import load_queries
    from tasb.retrieval.index import DenseIndex, load_index_model

    dense = DenseIndex.load(index_dir)
    topics, _ = load_queries(data.data, data.split, data.queries, data.qrels, need_qrels=False)
    return dense, topics, load_index_model(dense, model)


@_command()
def search(
    index: Annotated[Path, typer.Option("--index", help="index folder from `tasb index`")],
    out: Annotated[Path, typer.Option("--out", help="TREC run file to write")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    model: Annotated[Optional[str], typer.Option(help="default: the model that built the index")] = None,
    k: Annotated[int, typer.Option(help="passages per query")] = 1000,
):
    """Search an index with the queries → TREC run (qid Q0 pid rank score tag)."""
    from tasb.data import write_run
    from tasb.retrieval.index import search as dense_search

    dense, topics, student = _index_queries_model(index, _data(data, split, None, queries, qrels), model)
    write_run(dense_search(dense, student, topics, k=k, check_model=False), out, tag="tasb", k=k)
    typer.echo(f"wrote {out} ({len(topics)} queries)")


@_command()
def evaluate(
    run: Annotated[Path, typer.Option("--run", help="TREC run")],
    qrels: Annotated[Path, typer.Option("--qrels", help="TREC or BEIR qrels")],
    rel: Annotated[int, typer.Option(help="lowest grade RR and recall count as relevant (TREC-DL: 2)")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
):
    """nDCG@10, RR@10, R@100, R@1000 with ir-measures (trec_eval's numbers)."""
    from tasb.data import read_qrels, read_run
    from tasb.evaluation import evaluate as evaluate_run

    results = evaluate_run(read_run(run), read_qrels(qrels), rel=rel)
    if as_json:
        typer.echo(json.dumps(results))
    else:
        for name, value in results.items():
            typer.echo(f"{name:<10}{value:.4f}")


@_command()
def train(
    config: Annotated[Optional[Path], typer.Argument(help="YAML config (TrainConfig fields)")] = None,
    overrides: SetOpt = None,
    resume: Annotated[bool, typer.Option(help="continue from the newest checkpoint in output_dir")] = False,
):
    """Margin-MSE training of the BERT_DOT student from a pairwise teacher score file."""
    from tasb.data import read_scores
    from tasb.training.trainer import train as run_training

    cfg = load_config(TrainConfig, config, overrides or [])
    if not cfg.teacher_scores:
        raise InputError(config or "config", "teacher_scores: the path of a teacher score file")
    # early stopping re-ranks held-out judged queries: only then are judgments needed
    dataset = _load(cfg.data, need_qrels=cfg.validation.enabled)
    scores = read_scores(cfg.teacher_scores)
    folder = run_training(cfg, dataset, scores, resume=resume)
    typer.echo(f"trained student in {folder / 'model'}")


@_command(teacher_app, name="train")
def teacher_train(
    out: Annotated[Path, typer.Option("--out", help="folder for the teacher (model/ and teacher_log.jsonl)")],
    data: DataOpt = None,
    split: SplitOpt = "train",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    run: Annotated[Optional[Path], typer.Option("--run", help="negatives come from this run; default BM25")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML with TeacherConfig fields")] = None,
    overrides: SetOpt = None,
):
    """Fine-tune a BERT_CAT cross-encoder on judged positives and run negatives (recipe: TeacherConfig)."""
    from tasb.data import check_judged_passages, read_run
    from tasb.retrieval.bm25 import bm25_search
    from tasb.training.cross_encoder_trainer import train_cross_encoder

    cfg = load_config(TeacherConfig, config, overrides or [])
    dataset = _load(_data(data, split, corpus, queries, qrels))
    check_judged_passages(dataset, data, split, _str(qrels))
    candidates = read_run(run) if run else bm25_search(dataset.corpus, dataset.queries, k=cfg.negatives_depth)
    train_cross_encoder(cfg, dataset.queries, dataset.corpus, dataset.qrels, candidates, out)
    typer.echo(f"trained teacher in {out / 'model'}")


@_command(teacher_app, name="train-colbert")
def teacher_train_colbert(
    out: Annotated[Path, typer.Option("--out", help="folder for the teacher (model/ and teacher_log.jsonl)")],
    data: DataOpt = None,
    split: SplitOpt = "train",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    run: Annotated[Optional[Path], typer.Option("--run", help="negatives for the listwise loss come from this run; default BM25")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML with ColbertConfig fields")] = None,
    overrides: SetOpt = None,
):
    """Fine-tune a ColBERT teacher: listwise on judged pairs and/or Margin-MSE on a score file (recipe: ColbertConfig)."""
    from tasb.data import check_judged_passages, read_scores
    from tasb.retrieval.bm25 import bm25_search
    from tasb.training.colbert_trainer import train_colbert

    cfg = load_config(ColbertConfig, config, overrides or [])
    listwise = cfg.loss in ("listwise", "both")
    dataset = _load(_data(data, split, corpus, queries, qrels), need_qrels=listwise)
    candidates = None
    if listwise:
        check_judged_passages(dataset, data, split, _str(qrels))
        candidates = _read_run_of(run, dataset) if run else bm25_search(dataset.corpus, dataset.queries, k=cfg.negatives_depth)
    scores = read_scores(cfg.teacher_scores) if cfg.teacher_scores else None
    train_colbert(cfg, dataset.queries, dataset.corpus, out, qrels=dataset.qrels, run=candidates, scores=scores)
    typer.echo(f"trained ColBERT teacher in {out / 'model'}")


TeacherOpt = Annotated[
    list[str],
    typer.Option("--teacher", help="cross-encoder folder/name ([ce:]MODEL), colbert:MODEL, bm25, or dot:MODEL; repeat to ensemble"),
]
WeightOpt = Annotated[Optional[list[float]], typer.Option("--weight", help="ensemble weight per --teacher")]


@_command(teacher_app, name="score")
def teacher_score(
    teacher: TeacherOpt,
    out: Annotated[Path, typer.Option("--out", help="score file: score_pos score_neg qid pid_pos pid_neg")],
    run: Annotated[Path, typer.Option("--run", help="first-stage run the negatives come from")],
    data: DataOpt = None,
    split: SplitOpt = "train",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    weight: WeightOpt = None,
    depth: Annotated[int, typer.Option(help="negatives come from the run's top-depth")] = 100,
    negatives_per_query: Annotated[Optional[int], typer.Option(help="sample this many negatives per query")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="cross-encoder token cap")] = None,
    seed: int = 42,
    bf16: Bf16Opt = True,
):
    """Score (q, p+, p-) training pairs with a teacher or an ensemble into the paper's score file."""
    from tasb.data import check_judged_passages, training_pairs, write_scores
    from tasb.retrieval.scorers import build_scorer, score_pairs

    dataset = _load(_data(data, split, corpus, queries, qrels))
    check_judged_passages(dataset, data, split, _str(qrels))
    candidates = _read_run_of(run, dataset)
    pairs = training_pairs(dataset.qrels, candidates, depth=depth, per_query=negatives_per_query, seed=seed)
    scorer = build_scorer(teacher, weight, dataset.corpus, max_length=max_length, bf16=bf16)
    count = write_scores(score_pairs(scorer, pairs, dataset.queries, dataset.corpus), out)
    typer.echo(f"wrote {out} ({count} pairs)")


@_command(teacher_app, name="ensemble")
def teacher_ensemble(
    scores: Annotated[list[Path], typer.Argument(help="score files over the same pairs")],
    out: Annotated[Path, typer.Option("--out", help="ensembled score file")],
    weight: WeightOpt = None,
):
    """Average several score files (per-query z-normalised): the paper's teacher ensemble."""
    from tasb.data import ensemble_files, write_scores

    count = write_scores(ensemble_files(list(scores), weight), out)
    typer.echo(f"wrote {out} ({count} pairs)")


@_command(teacher_app, name="eval")
def teacher_eval(
    teacher: TeacherOpt,
    run: Annotated[Path, typer.Option("--run", help="candidates to re-rank")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    weight: WeightOpt = None,
    depth: Annotated[int, typer.Option(help="re-rank the top-depth candidates")] = 100,
    rel: Annotated[int, typer.Option(help="lowest grade RR and recall count as relevant")] = 1,
    out: Annotated[Optional[Path], typer.Option("--out", help="also write the re-ranked run")] = None,
    max_length: Annotated[Optional[int], typer.Option(help="cross-encoder token cap")] = None,
    bf16: Bf16Opt = True,
):
    """Judge a teacher by re-ranking a candidate run; prints its metrics (and each ensemble member's) next to the candidates'."""
    from tasb.data import write_run
    from tasb.evaluation import evaluate as evaluate_run
    from tasb.retrieval.rerank import rerank_with_members
    from tasb.retrieval.scorers import build_scorer

    dataset = _load(_data(data, split, corpus, queries, qrels))
    candidates = {q: s for q, s in _read_run_of(run, dataset).items() if q in dataset.queries}
    scorer = build_scorer(teacher, weight, dataset.corpus, max_length=max_length, bf16=bf16)
    runs = rerank_with_members(candidates, dataset.queries, dataset.corpus, scorer, depth)
    if out:
        write_run(runs[scorer.name], out, tag="teacher")
    rows = {"candidates": evaluate_run(candidates, dataset.qrels, rel)}
    rows.update({f"{name} re-ranks top-{depth}": evaluate_run(run_, dataset.qrels, rel) for name, run_ in runs.items()})
    typer.echo(_table(rows))


@_command()
def rerank(
    model: Annotated[
        list[str],
        typer.Option("--model", help="re-ranker: cross-encoder folder/name ([ce:]MODEL), colbert:MODEL, dot:MODEL or bm25; repeat to ensemble"),
    ],
    run: Annotated[Path, typer.Option("--run", help="candidates to re-rank (TREC run)")],
    out: Annotated[Path, typer.Option("--out", help="re-ranked TREC run to write")],
    data: DataOpt = None,
    split: SplitOpt = "test",
    corpus: CorpusOpt = None,
    queries: QueriesOpt = None,
    qrels: QrelsOpt = None,
    weight: WeightOpt = None,
    depth: Annotated[int, typer.Option(help="re-rank each query's top-depth; the rest keep their order below")] = 100,
    max_length: Annotated[Optional[int], typer.Option(help="cross-encoder token cap")] = None,
    bf16: Bf16Opt = True,
):
    """Re-rank a run's top-k with a cross-encoder (or any teacher) → a new run holding the same candidates."""
    import time

    from tasb.data import write_run
    from tasb.retrieval.rerank import rerank as rerank_run
    from tasb.retrieval.scorers import build_scorer

    dataset = _load(_data(data, split, corpus, queries, qrels), need_qrels=False)
    candidates = {q: s for q, s in _read_run_of(run, dataset).items() if q in dataset.queries}
    if not candidates:
        raise InputError(run, "rankings for the queries given", "none of them")
    scorer = build_scorer(model, weight, dataset.corpus, max_length=max_length, bf16=bf16)
    started = time.perf_counter()
    reranked = rerank_run(candidates, dataset.queries, dataset.corpus, scorer, depth)
    per_query_ms = (time.perf_counter() - started) * 1000 / len(candidates)
    write_run(reranked, out, tag="rerank")
    typer.echo(f"wrote {out} ({len(candidates)} queries, top-{depth} re-ranked, {per_query_ms:.0f} ms a query)")


def _read_run_of(path: Path, dataset) -> dict:
    """A run whose passages all have text in the dataset: a run from another corpus is refused up front."""
    from tasb.data import read_run
    from tasb.data.readers import line_naming

    run = read_run(path)
    missing = {pid for scores in run.values() for pid in scores if pid not in dataset.corpus}
    if missing:
        line, pid = line_naming(path, missing, (2,)) or (None, min(missing))
        raise InputError(path, f"passage ids of the corpus {dataset.source}", pid, line=line)
    return run


def _table(rows: dict[str, dict[str, float]]) -> str:
    from tasb.evaluation.report import markdown_table

    return markdown_table(rows)


@_command()
def cluster(
    out: Annotated[Path, typer.Option("--out", help="folder: clusters.tsv, centroids.npy, sizes.json, clusters.png")],
    data: DataOpt = None,
    split: SplitOpt = "train",
    queries: QueriesOpt = None,
    qrels: Annotated[Optional[Path], typer.Option("--qrels", help="only the queries judged here are clustered")] = None,
    model: Annotated[str, typer.Option(help="BERT_DOT folder or name whose query vectors are clustered")] = "all-MiniLM-L6-v2",
    k: Annotated[Optional[int], typer.Option("--k", help="number of clusters; default: queries / 200 (the paper's 2K for 400K)")] = None,
    niter: Annotated[int, typer.Option(help="k-means iterations")] = 20,
    seed: Annotated[int, typer.Option(help="k-means initialisation and the plot's random clusters")] = 42,
    batch_size: Annotated[int, typer.Option(help="queries per forward pass")] = 256,
    plot_clusters: Annotated[int, typer.Option(help="random clusters in clusters.png")] = 6,
    plot_examples: Annotated[int, typer.Option(help="example queries shown per plotted cluster")] = 3,
    bf16: Bf16Opt = True,
):
    """Topic clusters of the queries for TAS: encode with a BERT_DOT, k-means (faiss), write the cluster folder and a Figure-1 plot."""
    from tasb.apps.cluster import run_clustering

    cfg = ClusterConfig(
        output_dir=str(out), data=_data(data, split, None, queries, qrels), model=model, k=k, niter=niter, seed=seed,
        batch_size=batch_size, bf16=bf16, plot_clusters=plot_clusters, plot_examples=plot_examples,
    )
    summary = run_clustering(cfg)
    typer.echo(
        f"wrote {out} ({summary['n']} queries in {summary['k']} clusters; "
        f"size min {summary['size_min']}, median {summary['size_median']:g}, max {summary['size_max']})"
    )


@_command()
def sample(
    teacher_scores: Annotated[Path, typer.Option("--teacher-scores", help="score file: score_pos score_neg qid pid_pos pid_neg")],
    clusters: Annotated[Optional[Path], typer.Option("--clusters", help="qid<TAB>cluster (tasb cluster's clusters.tsv); tas and tas-balanced need it")] = None,
    sampler: Annotated[Literal["random", "tas", "tas-balanced"], typer.Option(help="random (eq. 9), tas (eq. 11) or tas-balanced (eq. 13)")] = "random",
    batch_size: Annotated[int, typer.Option(help="pairs per batch, each of another query")] = 32,
    batches: Annotated[int, typer.Option(help="batches to draw")] = 100,
    seed: Annotated[int, typer.Option(help="the samplers' seed: the same seed draws the same batches")] = 42,
    clusters_per_batch: Annotated[int, typer.Option(help="the paper's n: clusters a batch is drawn from")] = 1,
    margin_bins: Annotated[int, typer.Option(help="the paper's h: margin ranges per query")] = 10,
    out: Annotated[Path, typer.Option("--out", help="JSON lines, one batch each")] = Path("batches.jsonl"),
    plot: Annotated[Optional[Path], typer.Option("--plot", help="PNG: Random vs TAS-Balanced margins, cluster usage; default <out stem>.png")] = None,
):
    """Draw batches from a teacher score file (no model, no text) into JSON lines, with a plot of Random vs TAS-Balanced."""
    from tasb.apps.sample import run_sampling

    cfg = SampleConfig(
        teacher_scores=str(teacher_scores), clusters=_str(clusters) or "", sampler=sampler, batch_size=batch_size, batches=batches,
        seed=seed, clusters_per_batch=clusters_per_batch, margin_bins=margin_bins, out=str(out), plot=_str(plot) or "",
    )
    summary = run_sampling(cfg)
    typer.echo(f"wrote {summary['out']} ({batches} batches of {batch_size} pairs, {sampler}) and {summary['plot']}")
    typer.echo("share of sampled pairs per margin bin (0: smallest margins):")
    for name, shares in summary["bin_share"].items():
        typer.echo(f"  {name:<28}" + " ".join(f"{share:.2f}" for share in shares))


@_command()
def quickstart(
    data: Annotated[Optional[str], typer.Option("--data", help="BEIR folder (default: scifact under $TASB_DATA_DIR)")] = None,
    config: Annotated[Optional[Path], typer.Option("--config", help="YAML with QuickstartConfig fields")] = None,
    overrides: SetOpt = None,
):
    """SciFact end to end: BM25 → teacher → student → index → search → evaluate, in one table."""
    from tasb.apps.quickstart import run_quickstart

    cfg = load_config(QuickstartConfig, config, overrides or [])
    if data is not None:
        cfg.data = data
    folder = run_quickstart(cfg)
    typer.echo(f"everything is in {folder}")


@_command()
def fuse(
    runs: Annotated[list[Path], typer.Argument(help="TREC runs of the same queries, two or more")],
    out: Annotated[Path, typer.Option(help="fused TREC run to write")],
    method: Annotated[str, typer.Option(help="interpolation (of per-query normalised scores) or rrf")] = "interpolation",
    weight: Annotated[Optional[list[float]], typer.Option(help="one per run, in order; default: equal")] = None,
    normalization: Annotated[str, typer.Option(help="interpolation: min-max or z-score, per query")] = "min-max",
    rrf_k: Annotated[int, typer.Option(help="rrf: the k of 1 / (k + rank)")] = 60,
    depth: Annotated[int, typer.Option(help="passages kept per query")] = 1000,
):
    """Fuse runs, e.g. dense + BM25: score interpolation after per-query normalisation, or reciprocal rank fusion."""
    from tasb.config import from_dict
    from tasb.retrieval.fusion import fuse_files

    values = {
        "runs": [str(r) for r in runs], "out": str(out), "method": method, "weights": weight or [],
        "normalization": normalization, "rrf_k": rrf_k, "depth": depth,
    }
    written = fuse_files(from_dict(FuseConfig, values, source="options"))
    typer.echo(f"wrote {written}")


@_command()
def experiment(
    config: Annotated[Path, typer.Argument(help="YAML config (ExperimentConfig fields: train, test, grids, ...)")],
    overrides: SetOpt = None,
):
    """Train and evaluate every run of a grid (sampler × teacher × in-batch loss × seed); rerun to resume."""
    from tasb.apps.experiment import run_experiment

    folder = run_experiment(load_config(ExperimentConfig, config, overrides or []))
    typer.echo(f"every run is evaluated; tables and plots: tasb report {folder}")


@_command()
def report(
    experiment_dir: Annotated[Path, typer.Argument(help="folder written by tasb experiment")],
    out: Annotated[Optional[Path], typer.Option(help="Markdown file to write (figures go to figures/ beside it)")] = None,
    title: Annotated[Optional[str], typer.Option(help="heading of the report")] = None,
):
    """Tables shaped like the paper's Tables 3-5 with paired t-test marks, validation curves and recall at cut-offs."""
    from tasb.evaluation.report import build_report

    settings = load_config(ExperimentConfig, experiment_dir / "experiment.yaml")
    path = build_report(experiment_dir, out, title=title, rel=settings.rel)
    typer.echo(f"report in {path}")



@_command()
def pipelines(
    config: Annotated[Path, typer.Argument(help="YAML config (PipelinesConfig: corpus, topics, pipelines, rel, ...)")],
    overrides: SetOpt = None,
):
    """Run retrieval pipelines (BM25, dense, fused, each re-ranked or not) over topic sets: measures, ms per query, recall plot."""
    from tasb.apps.pipelines import run_pipelines

    folder = run_pipelines(load_config(PipelinesConfig, config, overrides or []))
    typer.echo((folder / "results.md").read_text(encoding="utf-8"))
    typer.echo(f"runs, per-pipeline JSON and recall plots in {folder}")


@_command()
def serve(
    index: Annotated[Optional[Path], typer.Option("--index", help="index folder from `tasb index`")] = None,
    data: DataOpt = None,
    corpus: CorpusOpt = None,
    model: Annotated[Optional[str], typer.Option(help="default: the model that built the index")] = None,
    host: Annotated[Optional[str], typer.Option(help="address to listen on [default: 127.0.0.1]")] = None,
    port: Annotated[Optional[int], typer.Option(help="port to listen on [default: 8000]")] = None,
    bm25: Annotated[Optional[bool], typer.Option("--bm25/--no-bm25", help="fuse dense with BM25 (requests may switch it off)")] = None,
    rerank: Annotated[Optional[list[str]], typer.Option(help="re-ranker spec as for tasb rerank (repeatable: an ensemble)")] = None,
    depth: Annotated[Optional[int], typer.Option(help="candidates the re-ranker scores [default: 100 with --rerank]")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML ServeConfig; the options above override it")] = None,
    overrides: SetOpt = None,
):
    """Serve search over HTTP: POST /search, POST /search/batch, GET /health, the search page at /, OpenAPI at /docs."""
    import dataclasses

    import uvicorn

    from tasb.serve.app import create_app

    settings = load_config(ServeConfig, config, overrides or [])
    if rerank and depth is None and not settings.pipeline.depth:
        depth = 100
    pipeline = {"index": _str(index), "model": model, "bm25": bm25, "rerank": rerank, "depth": depth}
    server = {"data": data, "corpus": _str(corpus), "host": host, "port": port}
    settings = dataclasses.replace(
        settings,
        pipeline=dataclasses.replace(settings.pipeline, **{k: v for k, v in pipeline.items() if v is not None}),
        **{k: v for k, v in server.items() if v is not None},
    )
    if not settings.corpus and not settings.data:
        raise InputError("--corpus", "the passages the index holds (--corpus FILE or --data FOLDER): hits carry their text")
    app = create_app(settings)
    typer.echo(f"serving {settings.pipeline.index} on http://{settings.host}:{settings.port}/ (API docs: /docs)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


@_command(bench_app, name="latency")
def bench_latency(
    index: Annotated[Path, typer.Option("--index", help="index folder from `tasb index` (flat, hnsw or ivfpq)")],
    queries: Annotated[Path, typer.Option("--queries", help="query texts to time: TSV qid<TAB>text or BEIR JSONL")],
    batch_size: Annotated[Optional[list[int]], typer.Option("--batch-size", help="repeatable; default 1, 10, 100, 1000")] = None,
    k: Annotated[int, typer.Option(help="passages retrieved per query")] = 1000,
    synthetic: Annotated[int, typer.Option(help="also time a flat index of this many random vectors; 0 skips it")] = 1_000_000,
    seconds: Annotated[float, typer.Option(help="time budget per batch size (at least min_repeats batches)")] = 10.0,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object instead of the table")] = False,
    overrides: SetOpt = None,
):
    """Query encoding + search latency per batch size, average and p99 (Table 1); flat search vs its memory bound."""
    from tasb.config import apply_overrides, from_dict
    from tasb.retrieval.latency import markdown_table, run_latency

    values = {"index": str(index), "queries": str(queries), "k": k, "synthetic": synthetic, "seconds": seconds}
    if batch_size:
        values["batch_sizes"] = batch_size
    results = run_latency(from_dict(LatencyConfig, apply_overrides(values, overrides or []), source="options"))
    typer.echo(json.dumps(results) if as_json else markdown_table(results))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
