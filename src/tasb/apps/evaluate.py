"""``tasb evaluate``: a TREC run against judgments, with ir-measures (trec_eval's numbers)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Annotated

import typer

from tasb.apps.command import from_options, user_errors
from tasb.config import AT_LEAST_1, Checked


@dataclasses.dataclass
class EvaluateConfig(Checked):
    """``tasb evaluate``: nDCG@10, RR@10, R@100, R@1000 of a run."""

    run: str = ""
    qrels: str = ""
    # the lowest grade RR and recall count as relevant (TREC-DL: 2); nDCG uses the grades
    rel: int = 1

    limits = {"rel": AT_LEAST_1}


def run_evaluate(config: EvaluateConfig) -> dict[str, float]:
    from tasb.data import read_qrels, read_run
    from tasb.evaluation import evaluate as evaluate_run

    return evaluate_run(read_run(config.run), read_qrels(config.qrels), rel=config.rel)


@user_errors
def command(
    run: Annotated[Path, typer.Option("--run", help="TREC run")],
    qrels: Annotated[Path, typer.Option("--qrels", help="TREC or BEIR qrels")],
    rel: Annotated[int, typer.Option(help="lowest grade RR and recall count as relevant (TREC-DL: 2)")] = 1,
    as_json: Annotated[bool, typer.Option("--json", help="print one JSON object")] = False,
):
    """nDCG@10, RR@10, R@100, R@1000 with ir-measures (trec_eval's numbers)."""
    results = run_evaluate(from_options(EvaluateConfig, run=str(run), qrels=str(qrels), rel=rel))
    if as_json:
        typer.echo(json.dumps(results))
    else:
        for name, value in results.items():
            typer.echo(f"{name:<10}{value:.4f}")
