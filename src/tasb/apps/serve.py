"""``tasb serve``: search over HTTP (``tasb.serve``), its settings a ``ServeConfig`` from YAML, ``--set`` and the options."""

from __future__ import annotations

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import CORPUS, DATA_DIR, DEVICE, INDEX, MODEL, RERANK_DEPTH, SCORERS, option
from tasb.config import ServeConfig


def run_serve(settings: ServeConfig) -> None:
    """Serve until stopped."""
    import uvicorn

    from tasb.serve.app import create_app

    app = create_app(settings)
    typer.echo(f"serving {settings.pipeline.index} on http://{settings.host}:{settings.port}/ (API docs: /docs)")
    uvicorn.run(app, host=settings.host, port=settings.port, log_level="warning")


@tasb_command(
    ServeConfig,
    "tasb serve --index runs/index --data scifact --bm25 --scorer colbert:runs/colbert/model --rerank-depth 30 --port 8000",
    [
        INDEX.to("pipeline.index"), DATA_DIR.to("data"), CORPUS.to("corpus"), MODEL.to("pipeline.model"),
        option("host", str, "--host", "address to listen on"), option("port", int, "--port", "port to listen on"),
        option("bm25", bool, "--bm25/--no-bm25", "fuse dense with BM25 (requests may switch it off)", "pipeline.bm25"),
        SCORERS[0].to("pipeline.scorers"), SCORERS[1].to("pipeline.scorer_weights"),
        RERANK_DEPTH.to("pipeline.rerank_depth"), DEVICE,
    ],
    aliases={"--rerank": "--scorer", "--depth": "--rerank-depth"},
)
def command(config: ServeConfig) -> None:
    """Serve search over HTTP: POST /search, POST /search/batch, GET /health, the search page at /, OpenAPI at /docs."""
    run_serve(config)
