"""``tasb serve``: FastAPI endpoints over a retrieval pipeline, micro-batched, with a search page at ``/``.

The configured pipeline is dense retrieval, optionally fused with BM25 and re-ranked; a request may switch
a configured fusion or re-ranking off with ``fuse`` / ``rerank`` false. Bad input is answered with a 4xx and
a message: 422 for invalid fields or JSON or for more than ``max_results_per_request`` hits (queries x k), 400
for a body that is not UTF-8, 413 for an oversized body.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from contextlib import asynccontextmanager
from importlib.resources import files
from pathlib import Path
from typing import Hashable

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, ConfigDict, StrictBool, StrictInt, StrictStr

from tasb.config import ServeConfig, check_config
from tasb.data import load_corpus, ranked
from tasb.retrieval.pipeline import Components, Pipeline
from tasb.serve.batcher import Hits, MicroBatcher
from tasb.serve.limits import BodySizeLimit


class _Options(BaseModel):
    model_config = ConfigDict(extra="forbid")

    k: StrictInt | None = None
    # unset: the stage runs if the server has it; false switches it off for this request
    fuse: StrictBool | None = None
    rerank: StrictBool | None = None


class SearchRequest(_Options):
    query: StrictStr


class BatchRequest(_Options):
    queries: list[StrictStr]


class Hit(BaseModel):
    rank: int
    pid: str
    score: float
    text: str


class SearchResponse(BaseModel):
    query: str
    k: int
    hits: list[Hit]
    fused: bool
    reranked: bool
    # queries that shared this query's forward pass (micro-batching)
    batch_size: int
    took_ms: float


class BatchResponse(BaseModel):
    results: list[SearchResponse]
    took_ms: float


class Health(BaseModel):
    status: str
    model: str
    index: str
    index_type: str
    passages: int
    fusion: bool
    rerank: list[str]
    rerank_depth: int
    uptime_s: float


class SearchService:
    """The pipelines one server runs: dense alone, fused with BM25, each re-ranked, as far as configured."""

    def __init__(self, config: ServeConfig):
        check_config(config)
        self.config = config
        self.corpus = load_corpus(config.data, config.corpus)
        components = Components(self.corpus, config.device)
        base = config.pipeline
        self.can_fuse, self.can_rerank = base.bm25, bool(base.scorers)
        self.pipelines = {
            (fuse, rerank): Pipeline(dataclasses.replace(base, bm25=fuse, scorers=base.scorers if rerank else []), components)
            for fuse in {False, self.can_fuse}
            for rerank in {False, self.can_rerank}
        }
        self.index, _ = components.dense(base.index, base.model)

    def variant(self, fuse: bool | None, rerank: bool | None) -> tuple[bool, bool]:
        """Which pipeline a request asks for; unset switches keep what the server was configured with."""
        for asked, available, name in ((fuse, self.can_fuse, "fusion with BM25"), (rerank, self.can_rerank, "re-ranking")):
            if asked and not available:
                raise HTTPException(422, f"{name} is not configured on this server")
        return (self.can_fuse if fuse is None else fuse, self.can_rerank if rerank is None else rerank)

    def run_batch(self, variant: Hashable, queries: list[str], k: int) -> list[Hits]:
        pipeline = self.pipelines[variant]
        run = pipeline.search({str(i): query for i, query in enumerate(queries)}, k)
        # the server times requests itself; the pipeline's own record would grow with every call
        pipeline.times.clear()
        return [ranked(run.get(str(i), {}), k) for i in range(len(queries))]

    def health(self, started: float) -> Health:
        meta = self.index.meta
        return Health(
            status="ok",
            model=_shown_name(self.config.pipeline.model or meta["model"]),
            index=self.index.path.resolve().name,
            index_type=meta.get("index_type", "flat"),
            passages=meta["count"],
            fusion=self.can_fuse,
            rerank=self.config.pipeline.scorers if self.can_rerank else [],
            rerank_depth=self.config.pipeline.rerank_depth if self.can_rerank else 0,
            uptime_s=time.monotonic() - started,
        )


def _shown_name(model: str) -> str:
    """A local model folder by its base name: a client has no business knowing the server's file system."""
    path = Path(model)
    if not (path.is_absolute() or path.exists()):
        return model  # a hub id: public anyway
    return path.name or model


async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
    # FastAPI's own handler echoes the offending input, which may not be JSON-encodable (NaN, lone surrogates)
    errors = [
        {"loc": [_encodable(part) for part in error.get("loc", ())], "msg": _encodable(error.get("msg", "")), "type": error.get("type", "")}
        for error in exc.errors()
    ]
    return JSONResponse(status_code=422, content={"detail": errors})


def _encodable(part: object) -> object:
    """A location or message as JSON can carry it: a key holding a lone surrogate is spelled escaped."""
    return part if isinstance(part, int) else str(part).encode("utf-8", "backslashreplace").decode("utf-8")


def create_app(config: ServeConfig, service: SearchService | None = None) -> FastAPI:
    """The FastAPI app; ``service`` defaults to loading everything ``config`` names."""
    check_config(config)  # the limits below are this config's, whichever config loaded the service
    service = service or SearchService(config)
    batcher = MicroBatcher(service.run_batch, max_size=config.batch_size, wait_ms=config.batch_wait_ms)
    started = time.monotonic()

    @asynccontextmanager
    async def lifespan(_: FastAPI):
        await batcher.start()
        yield
        await batcher.stop()

    app = FastAPI(
        title="tasb search",
        description="Dense passage retrieval (BERT_DOT trained with TAS-Balanced), optionally fused with BM25 and re-ranked.",
        lifespan=lifespan,
    )
    app.add_middleware(BodySizeLimit, max_bytes=config.max_body_bytes)
    app.add_exception_handler(RequestValidationError, _validation_error)
    page = (files("tasb.serve") / "static" / "index.html").read_text(encoding="utf-8")

    def checked_k(k: int | None) -> int:
        k = config.default_k if k is None else k
        if not 1 <= k <= config.max_k:
            raise HTTPException(422, f"k must be between 1 and {config.max_k}, got {k}")
        return k

    def checked_results(queries: int, k: int) -> None:
        # each hit carries its passage text: a large queries x k answer takes memory and stalls other clients
        if queries * k > config.max_results_per_request:
            raise HTTPException(
                422,
                f"{queries} queries x k {k} = {queries * k} results; the limit per request is "
                f"{config.max_results_per_request}: send fewer queries or a smaller k",
            )

    def checked_query(query: str) -> str:
        if not query.strip():
            raise HTTPException(422, "query is empty")
        try:
            query.encode("utf-8")
        except UnicodeEncodeError:
            raise HTTPException(422, "query holds characters that are not valid Unicode text (e.g. a lone surrogate)") from None
        if len(query) > config.max_query_chars:
            raise HTTPException(422, f"query is {len(query)} characters long; the limit is {config.max_query_chars}")
        return query

    async def answer(query: str, k: int, variant: tuple[bool, bool]) -> SearchResponse:
        start = time.perf_counter()
        result = await batcher.submit(variant, query, k)
        hits = [Hit(rank=rank, pid=pid, score=score, text=service.corpus[pid]) for rank, (pid, score) in enumerate(result.hits, start=1)]
        took = (time.perf_counter() - start) * 1000
        return SearchResponse(query=query, k=k, hits=hits, fused=variant[0], reranked=variant[1], batch_size=result.batch_size, took_ms=took)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def search_page() -> str:
        return page

    @app.get("/health")
    async def health() -> Health:
        return service.health(started)

    @app.post("/search")
    async def search(request: SearchRequest) -> SearchResponse:
        """The top-k passages for one query, each with its score and text."""
        k = checked_k(request.k)
        checked_results(1, k)
        return await answer(checked_query(request.query), k, service.variant(request.fuse, request.rerank))

    @app.post("/search/batch")
    async def search_batch(request: BatchRequest) -> BatchResponse:
        """Several queries at once; they join the same micro-batches as single searches."""
        if not 1 <= len(request.queries) <= config.max_batch_queries:
            raise HTTPException(422, f"queries must hold 1 to {config.max_batch_queries} queries, got {len(request.queries)}")
        k, variant = checked_k(request.k), service.variant(request.fuse, request.rerank)
        checked_results(len(request.queries), k)
        queries = [checked_query(query) for query in request.queries]
        start = time.perf_counter()
        results = await asyncio.gather(*(answer(query, k, variant) for query in queries))
        return BatchResponse(results=list(results), took_ms=(time.perf_counter() - start) * 1000)

    return app
