"""``tasb pipelines``: retrieval pipelines run over topic sets, evaluated and timed per query, as one table.

Each (topic set, pipeline) leaves ``<output_dir>/<topics>/<pipeline>.trec`` and ``<pipeline>.json``
(its config, measures and per-stage milliseconds per query); a rerun skips those whose config is unchanged.
``results.md`` holds the table, ``recall-<topics>.png`` the recall at cut-offs of the pipelines without
re-ranking (the paper's Figure 3).
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from tasb import layout
from tasb.apps.command import tasb_command
from tasb.apps.options import DEVICE
from tasb.config import AT_LEAST_1, PipelineConfig, Placement, check_config, save_config, to_dict
from tasb.errors import InputError
from tasb.fsutil import atomic_write, write_json
from tasb.outputs import run_folder

if TYPE_CHECKING:
    from tasb.retrieval.pipeline import Components

MEASURES = ("nDCG@10", "RR@10", "R@1000")
PIPELINES_KIND = "pipelines table"


@dataclasses.dataclass
class TopicSetConfig:
    """Queries and their judgments, e.g. TREC-DL 2019."""

    name: str = ""
    queries: str = ""
    qrels: str = ""


@dataclasses.dataclass
class PipelinesConfig(Placement):
    """``tasb pipelines``: every pipeline over every topic set, evaluated and timed per query, as one table."""

    corpus: str = ""
    topics: list[TopicSetConfig] = dataclasses.field(default_factory=list)
    pipelines: list[PipelineConfig] = dataclasses.field(default_factory=list)
    # RR and recall count grades >= rel as relevant (TREC-DL: 2)
    rel: int = 2
    # queries per pipeline call: 1 times each query alone, as a user waits for it
    batch_size: int = 1
    output_dir: str = "runs/pipelines"

    limits = {"rel": AT_LEAST_1, "batch_size": AT_LEAST_1}
    required = {"corpus": "the passages every pipeline searches (TSV pid<TAB>text or BEIR JSONL)"}

    def validate(self) -> None:
        """A table that cannot be built is refused before the corpus is read."""
        super().validate()
        if not self.topics or not self.pipelines:
            raise InputError("config", "at least one entry under topics (name, queries, qrels) and one under pipelines")
        for label, names in (("topics", [t.name for t in self.topics]), ("pipelines", [p.name for p in self.pipelines])):
            stems = [file_stem(name) for name in names]
            # a stem such as ".." would put the entry's files outside output_dir, over whatever is there
            if not all(stem and not stem.startswith(".") for stem in stems) or len(set(stems)) != len(names):
                raise InputError(
                    "config", f"a distinct, non-empty name for every entry of {label} (as file names, not starting with '.')", str(names)
                )


def run_pipelines(config: PipelinesConfig) -> Path:
    """Run, evaluate and time every pipeline on every topic set; write the table and the recall plots."""
    check_config(config)
    out = Path(config.output_dir)
    # an earlier table's folder is run over (its runs reused), held (locked) meanwhile; a folder of other files is refused
    with run_folder(out, PIPELINES_KIND):
        return _run_all(config, out)


def _run_all(config: PipelinesConfig, out: Path) -> Path:
    from tasb.data import read_corpus, read_qrels, read_queries
    from tasb.retrieval.pipeline import Components

    components = Components(read_corpus(config.corpus), config.device)
    save_config(config, out / layout.PIPELINES_CONFIG)
    results: dict[str, dict[str, dict]] = {}
    for topics in config.topics:
        queries, qrels = read_queries(topics.queries), read_qrels(topics.qrels)
        queries = {qid: text for qid, text in queries.items() if qid in qrels}
        if not queries:
            raise InputError(topics.queries, f"queries judged in {topics.qrels}", "none")
        shared = _shared_inputs(config, queries, qrels)
        results[topics.name] = {
            pipeline.name: _evaluated(pipeline, components, queries, qrels, out / file_stem(topics.name), config, shared)
            for pipeline in config.pipelines
        }
        _plot_recall(config, topics.name, qrels, out)
    with atomic_write(out / layout.RESULTS) as handle:
        handle.write(markdown_tables(results, config))
    return out


def file_stem(name: str) -> str:
    """A pipeline or topic set name as a portable file name: "dense > ColBERT@10" → "dense-ColBERT@10"."""
    return re.sub(r"[^\w@+.=-]+", "-", name).strip("-")


def _evaluated(
    pipeline: PipelineConfig, components: Components, queries, qrels, folder: Path, config: PipelinesConfig, shared: dict
) -> dict:
    import numpy as np

    from tasb.data import write_run
    from tasb.evaluation.metrics import evaluate
    from tasb.retrieval.pipeline import STAGES, Pipeline, run_in_batches

    record_path = folder / f"{file_stem(pipeline.name)}.json"
    settings = _inputs(pipeline, shared)
    if record_path.is_file() and (folder / f"{file_stem(pipeline.name)}.trec").is_file():
        record = json.loads(record_path.read_text(encoding="utf-8"))
        if record.get("settings") == settings:
            return record
    searcher = Pipeline(pipeline, components)
    run = run_in_batches(searcher, queries, config.batch_size)
    # a record must never sit beside a run file it did not measure: a kill before the new one is written drops both
    record_path.unlink(missing_ok=True)
    write_run(run, folder / f"{file_stem(pipeline.name)}.trec", tag=file_stem(pipeline.name), k=pipeline.k)
    calls = len(next(iter(searcher.times.values())))
    per_query = {stage: sum(searcher.times[stage]) * 1000 / len(queries) for stage in STAGES if stage in searcher.times}
    totals = np.sum([searcher.times[stage] for stage in per_query], axis=0) * 1000
    record = {
        "settings": settings,
        "measures": evaluate(run, qrels, rel=config.rel, measures=MEASURES),
        "ms_per_query": {**per_query, "total": float(sum(per_query.values()))},
        # with one query per call, the slowest calls are the slowest queries
        "p99_ms_per_call": float(np.percentile(totals, 99)),
        "calls": calls,
    }
    write_json(record_path, record)
    return record


def _shared_inputs(config: PipelinesConfig, queries, qrels) -> dict:
    """What every pipeline's record on one topic set depends on, computed once for all of them."""
    corpus = Path(config.corpus).stat()
    return {
        "batch_size": config.batch_size,
        "rel": config.rel,
        "queries": _digest(sorted(queries.items())),
        "qrels": _digest(sorted((qid, sorted(grades.items())) for qid, grades in qrels.items())),
        # an index or corpus rebuilt in place keeps its path: its meta.json (model fingerprint, creation time) does not
        "corpus": {"path": config.corpus, "bytes": corpus.st_size, "modified_ns": corpus.st_mtime_ns},
    }


def _inputs(pipeline: PipelineConfig, shared: dict) -> dict:
    """What a pipeline's record depends on: a rerun reuses the record only while all of it is unchanged."""
    inputs = {"pipeline": to_dict(pipeline), **shared}
    if pipeline.index:
        meta = Path(pipeline.index) / layout.META
        inputs["index_meta"] = {"sha256": _digest(meta.read_text(encoding="utf-8")), "modified_ns": meta.stat().st_mtime_ns}
    return inputs


def _digest(value: object) -> str:
    return hashlib.sha256(json.dumps(value, ensure_ascii=False).encode("utf-8")).hexdigest()


def _plot_recall(config: PipelinesConfig, topics: str, qrels, out: Path) -> None:
    from tasb.data import read_run
    from tasb.evaluation.metrics import recall_at_cutoffs
    from tasb.evaluation.plots import recall_plot

    first_stages = [p.name for p in config.pipelines if not p.scorers]
    if not first_stages:
        return
    folder = out / file_stem(topics)
    recalls = {name: recall_at_cutoffs(read_run(folder / f"{file_stem(name)}.trec"), qrels, config.rel) for name in first_stages}
    recall_plot(out / f"recall-{file_stem(topics)}.png", recalls, title=f"{topics}: recall at cut-offs (relevant: grade >= {config.rel})")


def markdown_tables(results: dict[str, dict[str, dict]], config: PipelinesConfig) -> str:
    """One row per pipeline: each topic set's measures and milliseconds per query; then the stages' share."""
    import numpy as np

    from tasb.markdown import markdown_table
    from tasb.retrieval.pipeline import STAGES

    topic_names = list(results)
    measures = []
    for pipeline in config.pipelines:
        cells = [pipeline.name]
        for topics in topic_names:
            record = results[topics][pipeline.name]
            cells += [f"{record['measures'][m]:.3f}" for m in MEASURES] + [f"{record['ms_per_query']['total']:.0f}"]
        measures.append(cells)
    stages = []
    for pipeline in config.pipelines:
        records = [results[t][pipeline.name] for t in topic_names]
        stage_cells = []
        for stage in STAGES:
            values = [r["ms_per_query"][stage] for r in records if stage in r["ms_per_query"]]
            stage_cells.append(f"{np.mean(values):.1f}" if values else "")
        stages.append([pipeline.name, *stage_cells, f"{max(r['p99_ms_per_call'] for r in records):.0f}"])
    lines = markdown_table(["pipeline", *(f"{t} {m}" for t in topic_names for m in (*MEASURES, "ms/query"))], measures)
    lines += ["", *markdown_table(["pipeline", *(f"{s} ms/query" for s in STAGES), "p99 ms per call"], stages)]
    return "\n".join(lines) + "\n"


@tasb_command(PipelinesConfig, "tasb pipelines configs/trec-dl.yaml --set batch_size=8", [DEVICE], positional_config=True)
def command(config: PipelinesConfig) -> None:
    """Run retrieval pipelines (BM25, dense, fused, each re-ranked or not) over topic sets: measures, ms per query, recall plot."""
    folder = run_pipelines(config)
    typer.echo((folder / layout.RESULTS).read_text(encoding="utf-8"))
    typer.echo(f"runs, per-pipeline JSON and recall plots in {folder}")
