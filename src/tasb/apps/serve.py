"""``tasb serve``: search over HTTP (``tasb.serve``), its settings from a YAML ``ServeConfig`` and the options over it."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Annotated, Optional

import typer

from tasb.apps.command import flag, user_errors
from tasb.apps.options import CorpusOpt, DataOpt, ModelOpt, SetOpt, text
from tasb.config import AT_LEAST_1, FieldError, ServeConfig, load_config
from tasb.errors import InputError


def serve_config(config: Path | None, overrides: list[str], pipeline: dict, server: dict) -> ServeConfig:
    """The YAML config and ``--set``, then the options given (``None``: not given) over them.

    Re-ranking asked for by option without a depth anywhere re-ranks the top 100; a depth given by option is
    one to re-rank at, at least 1."""
    depth = pipeline.get("depth")
    if depth is not None and not AT_LEAST_1.admits(depth):
        raise InputError("--depth", AT_LEAST_1.describe(depth), str(depth))
    settings = load_config(ServeConfig, config, overrides)
    if pipeline.get("rerank") and depth is None and not settings.pipeline.depth:
        pipeline = {**pipeline, "depth": 100}
    try:
        settings = dataclasses.replace(
            settings,
            pipeline=dataclasses.replace(settings.pipeline, **{k: v for k, v in pipeline.items() if v is not None}),
            **{k: v for k, v in server.items() if v is not None},
        )
    except FieldError as err:  # only an option's value can be out of range here: the file's were checked as it loaded
        raise InputError(flag(err.key), err.requirement, err.got) from None
    if not settings.corpus and not settings.data:
        raise InputError("--corpus", "the passages the index holds (--corpus FILE or --data FOLDER): hits carry their text")
    return settings


def run_serve(settings: ServeConfig) -> None:
    """Serve until stopped."""
    import uvicorn

    from tasb.serve.app import create_app

    app = create_app(settings)
    typer.echo(f"serving {settings.pipeline.index} on http://{settings.host}:{settings.port}/ (API docs: /docs)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


@user_errors(flags={"pipeline.index": "--index"})
def command(
    index: Annotated[Optional[Path], typer.Option("--index", help="index folder from `tasb index`")] = None,
    data: DataOpt = None,
    corpus: CorpusOpt = None,
    model: ModelOpt = None,
    host: Annotated[Optional[str], typer.Option(help="address to listen on [default: 127.0.0.1]")] = None,
    port: Annotated[Optional[int], typer.Option(help="port to listen on [default: 8000]")] = None,
    bm25: Annotated[Optional[bool], typer.Option("--bm25/--no-bm25", help="fuse dense with BM25 (requests may switch it off)")] = None,
    rerank: Annotated[Optional[list[str]], typer.Option(help="re-ranker spec as for tasb rerank (repeatable: an ensemble)")] = None,
    depth: Annotated[Optional[int], typer.Option(help="candidates the re-ranker scores [default: 100 with --rerank]")] = None,
    config: Annotated[Optional[Path], typer.Option(help="YAML ServeConfig; the options above override it")] = None,
    overrides: SetOpt = None,
):
    """Serve search over HTTP: POST /search, POST /search/batch, GET /health, the search page at /, OpenAPI at /docs."""
    pipeline = {"index": text(index), "model": model, "bm25": bm25, "rerank": rerank, "depth": depth}
    server = {"data": data, "corpus": text(corpus), "host": host, "port": port}
    run_serve(serve_config(config, overrides or [], pipeline, server))
