"""The ``tasb`` command line: the commands of ``tasb.apps``, assembled. Each command parses its options into its
config and calls one function; ``tasb.apps.command`` says how a user's error is told."""

from __future__ import annotations

import logging
import os
import sys

import typer

from tasb.apps import (
    ann_recall, bm25, cluster, evaluate, experiment, fuse, index, latency, pipelines, quickstart, report, rerank, sample, search, serve,
    show, teacher_colbert, teacher_ensemble, teacher_eval, teacher_score, teacher_train, train,
)
from tasb.apps.command import add, epilog

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
config_app = typer.Typer(no_args_is_help=True, help="Commands' settings: `show COMMAND` prints one's defaults as YAML for --config.")
app.add_typer(config_app, name="config")

add(app, "bm25", bm25.command)
index_app.callback(invoke_without_command=True, epilog=epilog(index.command))(index.command)
add(index_app, "merge", index.merge_command)
add(index_app, "verify", index.verify_command)
add(app, "ann-recall", ann_recall.command)
add(app, "search", search.command)
add(app, "evaluate", evaluate.command)
add(app, "train", train.command)
add(teacher_app, "train", teacher_train.command)
add(teacher_app, "train-colbert", teacher_colbert.command)
add(teacher_app, "score", teacher_score.command)
add(teacher_app, "ensemble", teacher_ensemble.command)
add(teacher_app, "eval", teacher_eval.command)
add(app, "rerank", rerank.command)
add(app, "cluster", cluster.command)
add(app, "sample", sample.command)
add(app, "quickstart", quickstart.command)
add(app, "fuse", fuse.command)
add(app, "experiment", experiment.command)
add(app, "report", report.command)
add(app, "pipelines", pipelines.command)
add(app, "serve", serve.command)
add(bench_app, "latency", latency.command)
add(config_app, "show", show.command_for(app))


def main() -> None:
    app()


if __name__ == "__main__":
    main()
