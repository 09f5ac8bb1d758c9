"""The ``tasb`` command line: the commands of ``tasb.apps``, assembled. Each command parses its options into its
config and calls one function; ``tasb.apps.command`` says how a user's error is told."""

from __future__ import annotations

import logging
import os
import sys

import typer

from tasb.apps import (
    ann_recall, bm25, cluster, evaluate, experiment, fuse, index, latency, pipelines, quickstart, report, rerank, sample, search, serve,
    teacher_colbert, teacher_ensemble, teacher_eval, teacher_score, teacher_train, train,
)

app = typer.Typer(
    no_args_is_help=True, add_completion=False, help="Dense retrieval trained with TAS-Balanced (Hofstätter et al., SIGIR'21).",
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _print_version(wanted: bool) -> None:
    if wanted:
        from tasb import __version__

        typer.echo(f"tasb {__version__}")
        raise typer.Exit()


@app.callback()
def _setup(
    quiet: bool = typer.Option(False, "--quiet", "-q", help="warnings and errors only, and no progress bars"),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="debug messages too"),
    version: bool = typer.Option(False, "--version", is_eager=True, callback=_print_version, help="print tasb's version and exit"),
) -> None:
    """Logging for every command: tasb's own messages at INFO (training, validation, caches), other libraries'
    at their defaults."""
    if quiet and verbose:
        raise typer.BadParameter("give --quiet or --verbose, not both")
    configure_logging(logging.WARNING if quiet else logging.DEBUG if verbose else logging.INFO)
    if quiet:
        os.environ["TQDM_DISABLE"] = "1"  # tqdm reads it when a bar is made


def configure_logging(level: int) -> None:
    """tasb's loggers print at ``level`` to stderr, once, whatever the command."""
    logger = logging.getLogger("tasb")
    logger.setLevel(level)
    if not any(isinstance(handler, _ToStderr) for handler in logger.handlers):
        logger.addHandler(_ToStderr())


class _ToStderr(logging.Handler):
    """Writes to whatever ``sys.stderr`` is when a message comes (a test runner swaps it, then closes its own)."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
        except Exception:
            self.handleError(record)


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
