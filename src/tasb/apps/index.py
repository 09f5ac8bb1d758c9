"""``tasb index``: encode passages into an index folder, in one go or in shards; ``merge`` joins shards, ``verify`` checks a folder."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path
from typing import Annotated, Optional

import typer

from tasb.apps.command import from_options, user_errors
from tasb.apps.options import Bf16Opt, CorpusOpt, DataOpt, SetOpt, text
from tasb.config import AT_LEAST_1, Checked, IndexConfig, load_config
from tasb.errors import InputError

IndexTypeOpt = Annotated[str, typer.Option("--type", help="flat (exact), hnsw or ivfpq (faiss, approximate)")]
_SHARD_SPEC = re.compile(r"(\d+|all)/(\d+)")


@dataclasses.dataclass
class IndexBuildConfig(Checked):
    """``tasb index``: which passages, which model, which kind of index (``ann``: its type and faiss settings)."""

    out: str = ""
    data: str | None = None
    corpus: str | None = None
    model: str = "all-MiniLM-L6-v2"
    # cls or mean; None: what the model folder says
    pooling: str | None = None
    batch_size: int = 32
    bf16: bool = True
    device: str = "cpu"
    ann: IndexConfig = dataclasses.field(default_factory=IndexConfig)
    # an index folder whose vectors (and model) are reused: another index type without encoding again
    source: str | None = None
    # i/N: shard i of N into OUT.shards/; all/N: every shard not yet done, then their merge
    shard: str | None = None

    limits = {"batch_size": AT_LEAST_1}


def parse_shard_spec(spec: str) -> tuple[int | None, int]:
    """``"i/N"`` as ``(i, N)``; ``"all/N"`` as ``(None, N)``."""
    match = _SHARD_SPEC.fullmatch(spec.strip())
    expected = "i/N (shard i of N, 0 <= i < N) or all/N"
    if not match:
        raise InputError("--shard", expected, spec)
    n = int(match.group(2))
    shard = None if match.group(1) == "all" else int(match.group(1))
    if n < 1 or (shard is not None and shard >= n):
        raise InputError("--shard", expected, spec)
    return shard, n


def index_types(index_type: str, overrides: list[str] | None) -> IndexConfig:
    """The index type and its faiss settings: ``--type``, and the other ``IndexConfig`` fields from ``--set``."""
    return load_config(IndexConfig, None, [*(overrides or []), f"type={index_type}"])


def run_index(config: IndexBuildConfig, report=typer.echo):
    """Build ``config.out`` (or, for one shard, only that shard); returns the index built, None for a single shard."""
    from tasb.data import load_corpus
    from tasb.models.student import BertDot
    from tasb.retrieval.index import DenseIndex, build_index, reindex

    split = parse_shard_spec(config.shard) if config.shard is not None else None
    if config.source is not None:
        if config.data or config.corpus or split:
            raise InputError("--from", "either --from INDEX (its vectors) or --data/--corpus/--shard (passages to encode)", "both")
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


@user_errors(flags={"shard": "--shard"})
def command(
    ctx: typer.Context,
    out: Annotated[Optional[Path], typer.Option("--out", help="index folder to write")] = None,
    data: DataOpt = None,
    corpus: CorpusOpt = None,
    model: Annotated[str, typer.Option(help="BERT_DOT folder or name")] = "all-MiniLM-L6-v2",
    pooling: Annotated[Optional[str], typer.Option(help="cls or mean; default: what the model folder says")] = None,
    batch_size: Annotated[int, typer.Option(help="passages per forward pass")] = 32,
    bf16: Bf16Opt = True,
    device: Annotated[str, typer.Option(help="where the model encodes: cpu, cuda, cuda:1, ...")] = "cpu",
    index_type: IndexTypeOpt = "flat",
    source: Annotated[
        Optional[Path], typer.Option("--from", help="an index folder whose vectors (and model) to reuse: a new --type without encoding again")
    ] = None,
    shard: Annotated[
        Optional[str],
        typer.Option(
            "--shard",
            help="i/N: encode only shard i (0 to N-1) of N into OUT.shards/ (merge with `tasb index merge OUT`); "
            "all/N: every shard not yet done, then merge them into OUT (rerun to resume)",
        ),
    ] = None,
    overrides: SetOpt = None,
):
    """Encode every passage once into an index folder (embeddings.npy, ids.txt, meta.json; faiss.index if approximate)."""
    config = from_options(
        IndexBuildConfig, out=text(out) or "", data=data, corpus=text(corpus), model=model, pooling=pooling, batch_size=batch_size,
        bf16=bf16, device=device, source=text(source), shard=shard,
    )
    if ctx.invoked_subcommand is not None:
        # by name: typer carries its own copy of click, whose ParameterSource is not click's
        given = [p.opts[0] for p in ctx.command.params if getattr(ctx.get_parameter_source(p.name), "name", "DEFAULT") != "DEFAULT"]
        if given:
            raise InputError(
                f"tasb index {ctx.invoked_subcommand}", "its own options after its name (tasb index OPTIONS builds an index)", given[0]
            )
        return
    if out is None:
        raise InputError("--out", "the index folder to write (tasb index --corpus FILE --out DIR, or tasb index merge|verify DIR)")
    if pooling not in (None, "cls", "mean"):
        raise InputError("--pooling", "cls or mean", pooling)
    config.ann = index_types(index_type, overrides)
    split = parse_shard_spec(shard) if shard is not None else None
    if split is not None and split[0] is not None and (overrides or index_type != "flat"):
        raise InputError("--type", "--type and --set only with --shard all/N or `tasb index merge` (a single shard is always flat)", shard)
    built = run_index(config)
    if built is None:
        return
    if source is not None:
        typer.echo(f"wrote {out} ({built.meta['count']} passages from {source}, {built.meta['index_type']})")
    else:
        typer.echo(f"wrote {out} ({built.meta['count']} passages, dim {built.meta['dim']}, {built.meta['index_type']})")


@user_errors
def merge_command(
    out: Annotated[Path, typer.Argument(help="index folder to write; the shards are read from OUT.shards/")],
    index_type: IndexTypeOpt = "flat",
    overrides: SetOpt = None,
):
    """Join the shards of `tasb index --shard i/N --out OUT` into the index folder OUT, as if encoded in one go (shards are kept)."""
    from tasb.retrieval.shards import merge_shards

    built = merge_shards(out, index_types(index_type, overrides))
    typer.echo(f"wrote {out} ({built.meta['count']} passages from {built.meta['shards']} shards, {built.meta['index_type']})")


@user_errors
def verify_command(folder: Annotated[Path, typer.Argument(help="index folder to check")]):
    """Check an index folder's files against the sha256 checksums its meta.json recorded when it was written."""
    from tasb.layout import CHECKSUMMED
    from tasb.retrieval.index import verify_folder

    problems = verify_folder(folder)
    if problems:
        raise InputError(folder, "files matching the checksums in meta.json", "; ".join(problems))
    checked = [name for name in CHECKSUMMED if (folder / name).is_file()]
    typer.echo(f"{folder}: intact ({', '.join(checked)} match meta.json)")
