"""``tasb evaluate``: a TREC run against judgments, with ir-measures (trec_eval's numbers), as means or per query."""

from __future__ import annotations

import dataclasses
import json
from typing import Optional

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import DATA_DIR, JSON, QRELS, REL, RUN, SPLIT, option
from tasb.config import AT_LEAST_1, DEFAULT_MEASURES, Checked, DataConfig


@dataclasses.dataclass
class EvaluateConfig(Checked):
    """``tasb evaluate``: ir-measures of a run against a dataset's judgments (or a qrels file)."""

    run: str = ""
    # the judgments: qrels, else data's qrels/<split>.tsv (corpus and queries are not read)
    data: DataConfig = dataclasses.field(default_factory=lambda: DataConfig(split="test"))
    # ir-measures names; RR, recall, P, AP, ... count a passage relevant from grade rel up unless the name sets its own
    measures: list[str] = dataclasses.field(default_factory=lambda: list(DEFAULT_MEASURES))
    # the lowest grade counted as relevant (TREC-DL: 2); nDCG uses the grades
    rel: int = 1
    # each query's value too: trec_eval -q lines (measure, qid, value; then "all", the mean), or under "per_query" in JSON
    per_query: bool = False
    json: bool = False

    limits = {"rel": AT_LEAST_1}
    required = {"run": "a TREC run", "measures": "at least one measure"}

    def validate(self) -> None:
        from tasb.evaluation.metrics import check_measures

        super().validate()
        check_measures(self.measures, "measures")


def run_evaluate(config: EvaluateConfig) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """The mean of each measure and, with ``per_query``, each query's value (else nothing)."""
    from tasb.data import load_qrels, read_run
    from tasb.evaluation import evaluate, evaluate_per_query

    run, data = read_run(config.run), config.data
    qrels = load_qrels(data.data, data.split, data.qrels)
    per_query = evaluate_per_query(run, qrels, config.rel, config.measures) if config.per_query else {}
    return evaluate(run, qrels, config.rel, config.measures), per_query


def report(config: EvaluateConfig, means: dict[str, float], per_query: dict[str, dict[str, float]]) -> str:
    """The figures as printed: one JSON object, or aligned lines of means, or trec_eval -q lines."""
    if config.json:
        return json.dumps({"mean": means, "per_query": per_query} if config.per_query else means)
    if not config.per_query:
        return "\n".join(f"{name:<10}{value:.4f}" for name, value in means.items())
    lines = [f"{name}\t{qid}\t{value:.4f}" for name, values in per_query.items() for qid, value in sorted(values.items())]
    return "\n".join(lines + [f"{name}\tall\t{value:.4f}" for name, value in means.items()])


@tasb_command(
    EvaluateConfig,
    "tasb evaluate --run runs/student.trec --data scifact --split test --measure nDCG@10 --measure AP --per-query",
    [
        RUN, DATA_DIR, SPLIT, QRELS,
        option(
            "measure", Optional[list[str]], "--measure", "an ir-measures name, e.g. nDCG@10, RR@10, R@1000, AP, P@10 (repeatable)", "measures",
        ),
        REL, option("per_query", bool, "--per-query", "each query's value too (trec_eval -q lines, or per_query in JSON)"), JSON,
    ],
)
def command(config: EvaluateConfig) -> None:
    """Measures of a run with ir-measures (trec_eval's numbers): nDCG@10, RR@10, R@100, R@1000 unless --measure says."""
    typer.echo(report(config, *run_evaluate(config)))
