"""``tasb index``: encode passages into an index folder, in one go or in shards; ``merge`` joins shards, ``verify`` checks a folder."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Literal, Optional

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import BATCH_SIZE, BF16, CORPUS, DATA_DIR, DEVICE, OUT, argument, described, option
from tasb.config import AT_LEAST_1, Checked, IndexConfig, Placement
from tasb.errors import InputError

_SHARD_SPEC = re.compile(r"(\d+|all)/(\d+)")
# the IndexConfig keys `--set` took before they moved into the ann section
_ANN_KEYS = {field.name: f"ann.{field.name}" for field in dataclasses.fields(IndexConfig)}


@dataclasses.dataclass
class IndexBuildConfig(Placement):
    """``tasb index``: which passages, which model, which kind of index (``ann``: its type and faiss settings)."""

    out: str = ""
    data: str | None = None
    corpus: str | None = None
    model: str = "all-MiniLM-L6-v2"
    # None: what the model folder says
    pooling: Literal["cls", "mean"] | None = None
    batch_size: int = 32
    bf16: bool = True
    ann: IndexConfig = dataclasses.field(default_factory=IndexConfig)
    # an index folder whose vectors (and model) are reused: another index type without encoding again
    source: str | None = None
    # i/N: shard i of N into OUT.shards/; all/N: every shard not yet done, then their merge
    shard: str | None = None

    limits = {"batch_size": AT_LEAST_1}
    renamed = _ANN_KEYS
    required = {"out": "the index folder to write (tasb index --corpus FILE --out DIR, or tasb index merge|verify DIR)"}

    def validate(self) -> None:
        super().validate()
        split = parse_shard_spec(self.shard) if self.shard is not None else None
        if self.source is not None and (self.data or self.corpus or split):
            raise InputError("source", "either an index to reuse the vectors of, or passages to encode (`data`, `corpus`, `shard`)", "both")
        if split is not None and split[0] is not None and self.ann != IndexConfig():
            raise InputError("ann.type", "flat: a single shard is always flat (another type with `shard` all/N or a merge)", self.ann.type)


@dataclasses.dataclass
class IndexMergeConfig(Checked):
    """``tasb index merge``: which index folder the shards in ``<out>.shards/`` join into, and of which kind."""

    out: str = ""
    ann: IndexConfig = dataclasses.field(default_factory=IndexConfig)

    renamed = _ANN_KEYS
    required = {"out": "the index folder to write; the shards are read from OUT.shards/"}


@dataclasses.dataclass
class IndexVerifyConfig(Checked):
    """``tasb index verify``: the index folder to check."""

    folder: str = ""

    required = {"folder": "an index folder"}


def parse_shard_spec(spec: str) -> tuple[int | None, int]:
    """``"i/N"`` as ``(i, N)``; ``"all/N"`` as ``(None, N)``."""
    match = _SHARD_SPEC.fullmatch(spec.strip())
    expected = "i/N (shard i of N, 0 <= i < N) or all/N"
    if not match:
        raise InputError("shard", expected, spec)
    n = int(match.group(2))
    shard = None if match.group(1) == "all" else int(match.group(1))
    if n < 1 or (shard is not None and shard >= n):
        raise InputError("shard", expected, spec)
    return shard, n


def run_index(config: IndexBuildConfig, report=typer.echo):
    """Build ``config.out`` (or, for one shard, only that shard); returns the index built, None for a single shard."""
    from tasb.data import load_corpus
    from tasb.models.student import BertDot
    from tasb.retrieval.index import DenseIndex, build_index, reindex

    split = parse_shard_spec(config.shard) if config.shard is not None else None
    if config.source is not None:
        return reindex(DenseIndex.load(config.source), config.out, config.ann)
    passages = load_corpus(config.data, config.corpus)
    student = BertDot.load(config.model, pooling=config.pooling, device=config.device)
    # an absolute path, so `tasb search` finds the model from any working directory
    recorded = str(Path(config.model).resolve()) if Path(config.model).exists() else config.model
    if split is None:
        return build_index(student, passages, config.out, batch_size=config.batch_size, bf16=config.bf16, model_name=recorded, ann=config.ann)
    return _index_shards(*split, student, passages, config, recorded, report)


def _index_shards(only: int | None, n: int, student, passages, config: IndexBuildConfig, model_name: str, report):
    """Shard ``only`` of ``n`` (no index yet: None), or with ``only`` None every shard and their merge."""
    from tasb.layout import shard_dir
    from tasb.retrieval.shards import build_sharded_index, encode_shards

    out = Path(config.out)

    def said(shard: int, status: str) -> None:
        state = {"done": "already done", "written": "written", "replaced": "written over one of another corpus or model"}[status]
        report(f"shard {shard}/{n} {state}: {shard_dir(out, shard, n)}")

    if only is None:
        return build_sharded_index(student, passages, out, n, config.batch_size, config.bf16, model_name, config.ann, said)
    encode_shards(student, passages, out, n, [only], config.batch_size, config.bf16, model_name, said)
    return None


TYPE = option("type", str, "--type", "flat (exact), hnsw or ivfpq (faiss, approximate); their settings: --set ann.KEY=VALUE", "ann.type")


@tasb_command(
    IndexBuildConfig,
    "tasb index --data scifact --model runs/student/model --out runs/index-hnsw --type hnsw --set ann.hnsw_ef_search=256",
    [
        described(OUT, "index folder to write"), DATA_DIR.to("data"), CORPUS.to("corpus"),
        option("model", str, "--model", "BERT_DOT folder or name"),
        option("pooling", Optional[str], "--pooling", "cls or mean; default: what the model folder says"),
        described(BATCH_SIZE, "passages per forward pass"), BF16, DEVICE, TYPE,
        option("source", Optional[Path], "--from", "an index folder whose vectors (and model) to reuse: a new --type without encoding again"),
        option(
            "shard", Optional[str], "--shard",
            "i/N: encode only shard i (0 to N-1) of N into OUT.shards/ (merge with `tasb index merge OUT`); "
            "all/N: every shard not yet done, then merge them into OUT (rerun to resume)",
        ),
    ],
)
def command(config: IndexBuildConfig) -> None:
    """Encode every passage once into an index folder (embeddings.npy, ids.txt, meta.json; faiss.index if approximate)."""
    built = run_index(config)
    if built is None:
        return
    if config.source is not None:
        typer.echo(f"wrote {config.out} ({built.meta['count']} passages from {config.source}, {built.meta['index_type']})")
    else:
        typer.echo(f"wrote {config.out} ({built.meta['count']} passages, dim {built.meta['dim']}, {built.meta['index_type']})")


@tasb_command(
    IndexMergeConfig,
    "tasb index merge runs/msmarco-index --type hnsw",
    [argument("out", Optional[Path], "index folder to write; the shards are read from OUT.shards/"), TYPE],
    flags={"shard": "tasb index --shard"},
)
def merge_command(config: IndexMergeConfig) -> None:
    """Join the shards of `tasb index --shard i/N --out OUT` into the index folder OUT, as if encoded in one go (shards are kept)."""
    from tasb.retrieval.shards import merge_shards

    built = merge_shards(config.out, config.ann)
    typer.echo(f"wrote {config.out} ({built.meta['count']} passages from {built.meta['shards']} shards, {built.meta['index_type']})")


@tasb_command(IndexVerifyConfig, "tasb index verify runs/index", [argument("folder", Optional[Path], "index folder to check")])
def verify_command(config: IndexVerifyConfig) -> None:
    """Check an index folder's files against the sha256 checksums its meta.json recorded when it was written."""
    from tasb.layout import CHECKSUMMED
    from tasb.retrieval.index import verify_folder

    folder = Path(config.folder)
    problems = verify_folder(folder)
    if problems:
        raise InputError(folder, "files matching the checksums in meta.json", "; ".join(problems))
    checked = [name for name in CHECKSUMMED if (folder / name).is_file()]
    typer.echo(f"{folder}: intact ({', '.join(checked)} match meta.json)")
