"""The ``tasb`` command line: the commands of ``tasb.apps``, assembled. Each command parses its options into its
config and calls one function; ``tasb.apps.command`` says how a user's error is told."""

from __future__ import annotations

import typer

from tasb.apps import (
    ann_recall, bm25, cluster, evaluate, experiment, fuse, index, latency, pipelines, quickstart, report, rerank, sample, search, serve,
    teacher_colbert, teacher_ensemble, teacher_eval, teacher_score, teacher_train, train,
)

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Dense retrieval trained with TAS-Balanced (Hofstätter et al., SIGIR'21)."
)
teacher_app = typer.Typer(no_args_is_help=True, help="Teachers (BERT_CAT, ColBERT, ensembles): train, judge by re-ranking, score training pairs.")
app.add_typer(teacher_app, name="teacher")
index_app = typer.Typer(help="Encode passages into an index folder; `merge` joins shards, `verify` checks a folder.")
app.add_typer(index_app, name="index")
bench_app = typer.Typer(no_args_is_help=True, help="Measurements of speed: query latency per batch size (the paper's Table 1).")
app.add_typer(bench_app, name="bench")

app.command("bm25")(bm25.command)
index_app.callback(invoke_without_command=True)(index.command)
index_app.command("merge")(index.merge_command)
index_app.command("verify")(index.verify_command)
app.command("ann-recall")(ann_recall.command)
app.command("search")(search.command)
app.command("evaluate")(evaluate.command)
app.command("train")(train.command)
teacher_app.command("train")(teacher_train.command)
teacher_app.command("train-colbert")(teacher_colbert.command)
teacher_app.command("score")(teacher_score.command)
teacher_app.command("ensemble")(teacher_ensemble.command)
teacher_app.command("eval")(teacher_eval.command)
app.command("rerank")(rerank.command)
app.command("cluster")(cluster.command)
app.command("sample")(sample.command)
app.command("quickstart")(quickstart.command)
app.command("fuse")(fuse.command)
app.command("experiment")(experiment.command)
app.command("report")(report.command)
app.command("pipelines")(pipelines.command)
app.command("serve")(serve.command)
bench_app.command("latency")(latency.command)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
