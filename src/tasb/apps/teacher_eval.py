"""``tasb teacher eval``: a teacher judged by re-ranking a candidate run, beside the candidates (and each ensemble member)."""

from __future__ import annotations

import dataclasses

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import OUT, REL, RERANKING, described, load, read_run_of, scorer_of
from tasb.config import AT_LEAST_1, DataConfig, Scoring


@dataclasses.dataclass
class TeacherEvalConfig(Scoring):
    """``tasb teacher eval``: which scorers re-rank which run's top ``rerank_depth``, judged on which queries."""

    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    rerank_depth: int = 100
    # the lowest grade RR and recall count as relevant
    rel: int = 1
    # also write the re-ranked run
    out: str | None = None

    limits = {"rerank_depth": AT_LEAST_1, "rel": AT_LEAST_1}
    required = {"run": "a TREC run of candidates to re-rank"}


def run_teacher_eval(config: TeacherEvalConfig) -> dict[str, dict[str, float]]:
    """The measures of the candidates, of each member's re-ranking and of the teacher's, one row each."""
    from tasb.data import write_run
    from tasb.evaluation import evaluate
    from tasb.retrieval.rerank import rerank_with_members

    dataset = load(config.data)
    candidates = {q: s for q, s in read_run_of(config.run, dataset).items() if q in dataset.queries}
    scorer = scorer_of(config, dataset.corpus)
    runs = rerank_with_members(candidates, dataset.queries, dataset.corpus, scorer, config.rerank_depth)
    if config.out:
        write_run(runs[scorer.name], config.out, tag="teacher")
    rows = {"candidates": evaluate(candidates, dataset.qrels, config.rel)}
    rows.update({f"{name} re-ranks top-{config.rerank_depth}": evaluate(run, dataset.qrels, config.rel) for name, run in runs.items()})
    return rows


@tasb_command(
    TeacherEvalConfig,
    "tasb teacher eval --scorer runs/teacher/model --scorer bm25 --weight 1 --weight 1 --run runs/bm25.test.trec \\\n"
    "    --data scifact --split test --rerank-depth 100",
    [*RERANKING, REL, described(OUT, "also write the re-ranked run")],
    aliases={"--teacher": "--scorer", "--depth": "--rerank-depth"},
)
def command(config: TeacherEvalConfig) -> None:
    """Judge a teacher by re-ranking a candidate run; prints its metrics (and each ensemble member's) next to the candidates'."""
    from tasb.evaluation.tables import results_table

    typer.echo(results_table(run_teacher_eval(config)))
