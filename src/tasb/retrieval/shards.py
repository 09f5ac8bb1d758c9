"""Sharded encoding: a corpus encoded in N pieces (in turn, or on several machines at once), then merged into one index.

Shard i of N holds the passages at corpus positions ``[i * count // N, (i + 1) * count // N)``. The shards of
index folder ``DIR`` live beside it, in ``DIR.shards/shard-0000i-of-0000N/``: not inside, because ``DIR`` is
only ever replaced whole and a rerun needs the shards that survived. Each shard is a complete flat index folder
(``DenseIndex.load`` opens it) whose ``meta.json`` adds ``shard`` ``[i, N]``, ``corpus_count`` and
``corpus_digest``, so a rerun can tell a finished shard from one of another corpus or model, and a merge can
refuse to mix them.
"""

from __future__ import annotations

import dataclasses
import hashlib
import shutil
from pathlib import Path
from typing import Callable, Iterable, Literal, Sequence

import numpy as np
from tqdm.auto import tqdm

from tasb.config import IndexConfig
from tasb.data.records import Corpus
from tasb.errors import InputError
from tasb.fsutil import atomic_dir
from tasb.layout import EMBEDDINGS, IDS, META, SHARD_NAME, shard_dir, shards_dir
from tasb.models.student import BertDot
from tasb.retrieval.ann import resolved_settings
from tasb.retrieval.index import (
    ENCODER_KEYS,
    DenseIndex,
    _check_pids,
    _finish_folder,
    _read_meta,
    _refuse_foreign_folder,
    encoder_meta,
    index_meta,
    write_ids,
)

# the model's name is left out: two machines may record different paths to the same weights (the fingerprint decides)
SHARD_KEYS = ("format", *(key for key in ENCODER_KEYS if key != "model"), "corpus_count", "corpus_digest")
# passages encoded per call: the most vectors held in memory while a shard is written
ENCODE_CHUNK = 10_000

Status = Literal["done", "written", "replaced"]


def shard_range(shard: int, n: int, count: int) -> range:
    """Corpus positions of shard ``shard`` of ``n``: contiguous, so merging is concatenation in corpus order."""
    return range(shard * count // n, (shard + 1) * count // n)


def corpus_digest(corpus: Corpus, pids: list[str]) -> str:
    """sha256 over ids and texts in corpus order: a corpus edited, reordered or grown gets another digest."""
    digest = hashlib.sha256()
    for pid in pids:
        text = corpus[pid].encode("utf-8")
        # lengths first: no choice of texts can make two different corpora hash the same bytes
        digest.update(f"{pid}\n{len(text)}\n".encode("utf-8"))
        digest.update(text)
    return digest.hexdigest()


@dataclasses.dataclass(frozen=True)
class _Sharding:
    """One corpus split ``n`` ways for one model: what every shard's ``meta.json`` must agree on."""

    model: BertDot
    corpus: Corpus
    pids: list[str]
    out_dir: Path
    n: int
    encoder: dict
    digest: str
    batch_size: int

    def meta(self, shard: int) -> dict:
        count = len(shard_range(shard, self.n, len(self.pids)))
        return index_meta(self.encoder, count, "flat", {}, shard=[shard, self.n], corpus_count=len(self.pids), corpus_digest=self.digest)

    def state(self, shard: int) -> Literal["done", "stale", "missing"]:
        meta_path = shard_dir(self.out_dir, shard, self.n) / META
        if not meta_path.is_file():
            return "missing"
        found, wanted = _read_meta(meta_path), self.meta(shard)
        return "done" if all(found.get(key) == wanted[key] for key in (*SHARD_KEYS, "shard")) else "stale"

    def write(self, shard: int) -> None:
        folder = shard_dir(self.out_dir, shard, self.n)
        _refuse_foreign_folder(folder)
        positions = shard_range(shard, self.n, len(self.pids))
        pids = self.pids[positions.start : positions.stop]
        with atomic_dir(folder) as tmp:
            texts = [self.corpus[pid] for pid in pids]
            vectors = _encode_to_npy(self.model, texts, tmp / EMBEDDINGS, self.batch_size, self.encoder["bf16"], f"shard {shard}/{self.n}")
            write_ids(tmp / IDS, pids)
            _finish_folder(tmp, vectors, self.meta(shard))


def encode_shards(
    model: BertDot,
    corpus: Corpus,
    out_dir: str | Path,
    n: int,
    shards: Iterable[int] | None = None,
    batch_size: int = 32,
    bf16: bool = True,
    model_name: str = "",
    on_shard: Callable[[int, Status], None] | None = None,
) -> dict[int, Status]:
    """Write ``shards`` (default: all ``n``) of ``corpus`` into ``shards_dir(out_dir)``, each appearing whole or not at all.

    A shard already written for the same corpus, model and bf16 setting is left alone ("done"); one from another
    corpus or model is encoded again ("replaced"). ``on_shard`` hears of each shard as it finishes."""
    pids = list(corpus)
    _check_split(n, len(pids))
    _check_pids(pids)
    wanted = list(range(n) if shards is None else shards)
    for shard in wanted:
        if not 0 <= shard < n:
            raise InputError("shard", f"a shard from 0 to {n - 1} of {n}", str(shard))
    sharding = _Sharding(model, corpus, pids, Path(out_dir), n, encoder_meta(model, model_name, bf16), corpus_digest(corpus, pids), batch_size)
    statuses: dict[int, Status] = {}
    for shard in wanted:
        state = sharding.state(shard)
        if state != "done":
            sharding.write(shard)
        statuses[shard] = {"done": "done", "missing": "written", "stale": "replaced"}[state]
        if on_shard is not None:
            on_shard(shard, statuses[shard])
    return statuses


def build_sharded_index(
    model: BertDot,
    corpus: Corpus,
    out_dir: str | Path,
    n: int,
    batch_size: int = 32,
    bf16: bool = True,
    model_name: str = "",
    ann: IndexConfig | None = None,
    on_shard: Callable[[int, Status], None] | None = None,
) -> DenseIndex:
    """Every shard not yet done, then their merge into ``out_dir``: rerun after an interruption, finished shards are kept."""
    out_dir = Path(out_dir)
    # what the merge would refuse is refused before hours of encoding
    _refuse_foreign_folder(out_dir)
    if ann is not None:
        resolved_settings(ann, len(corpus), model.dim)
    encode_shards(model, corpus, out_dir, n, None, batch_size, bf16, model_name, on_shard)
    return merge_shards(out_dir, ann, n)


def merge_shards(out_dir: str | Path, ann: IndexConfig | None = None, n: int | None = None) -> DenseIndex:
    """The index folder ``out_dir`` from all ``n`` shards in ``shards_dir(out_dir)`` (``n`` default: the one split there).

    Rows go shard by shard from one memory map into another: through the page cache, never all in process memory
    (an hnsw or ivfpq index is built from all of them, though). Nothing is written unless every shard is present
    and agrees with shard 0; the shards are kept."""
    out_dir = Path(out_dir)
    n = _split_on_disk(out_dir) if n is None else n
    shards = [_load_shard(out_dir, shard, n) for shard in range(n)]
    reference = shards[0].meta
    for shard, index in enumerate(shards):
        _check_shard(index, shard, n, reference)
    _refuse_foreign_folder(out_dir)
    count = reference["corpus_count"]
    ann = ann if ann is not None else IndexConfig()
    settings = resolved_settings(ann, count, reference["dim"])
    encoder = {key: reference[key] for key in ENCODER_KEYS}
    meta = index_meta(encoder, count, ann.type, settings, shards=n, corpus_digest=reference["corpus_digest"])
    with atomic_dir(out_dir) as tmp:
        vectors = _concatenate_embeddings(shards, tmp / EMBEDDINGS)
        with (tmp / IDS).open("wb") as ids:
            for index in shards:
                with (index.path / IDS).open("rb") as part:
                    shutil.copyfileobj(part, ids)
        _finish_folder(tmp, vectors, meta)
    return DenseIndex.load(out_dir, verify=False)  # hashed a moment ago, as it was written


def _encode_to_npy(
    model: BertDot, texts: Sequence[str], path: Path, batch_size: int, bf16: bool, progress: str | None
) -> np.ndarray:
    """The passage vectors of ``texts`` written to a memory-mapped ``.npy`` at ``path``, ``ENCODE_CHUNK`` passages at a time.

    Only one chunk's vectors are ever in memory, so an index may outgrow RAM; batches are length-sorted
    within a chunk, which pads them about as little as sorting the whole corpus would."""
    vectors = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(len(texts), model.dim))
    chunk = ENCODE_CHUNK
    with tqdm(total=len(texts), desc=progress, unit="passage", disable=progress is None) as bar:
        for start in range(0, len(texts), chunk):
            part = texts[start : start + chunk]
            vectors[start : start + len(part)] = model.encode_passages(part, batch_size=batch_size, bf16=bf16)
            bar.update(len(part))
    vectors.flush()
    return vectors


def _check_split(n: int, count: int) -> None:
    if count == 0:
        raise InputError(None, "a corpus with at least one passage", "an empty corpus")
    # an empty shard would be an empty .npy, which cannot be memory-mapped
    if not 1 <= n <= count:
        raise InputError("shard", f"from 1 to {count} shards (one passage at least in each)", str(n))


def _split_on_disk(out_dir: Path) -> int:
    folder = shards_dir(out_dir)
    if not folder.is_dir():
        raise InputError(folder, "shard folders, written with `shard` i/N", "no such folder")
    splits = sorted({int(match.group(2)) for match in (SHARD_NAME.fullmatch(path.name) for path in folder.iterdir()) if match})
    if not splits:
        raise InputError(folder, "shard folders (shard-I-of-N), written with `shard` i/N", "none")
    if len(splits) > 1:
        raise InputError(folder, "the shards of one split into N (remove the others)", f"shards of {' and of '.join(map(str, splits))}")
    return splits[0]


def _load_shard(out_dir: Path, shard: int, n: int) -> DenseIndex:
    folder = shard_dir(out_dir, shard, n)
    if not folder.is_dir():
        raise InputError(folder, f"shard {shard}/{n} (write it with `shard` {shard}/{n})", "no such folder")
    return DenseIndex.load(folder)


def _check_shard(index: DenseIndex, shard: int, n: int, reference: dict) -> None:
    meta, path = index.meta, index.path / META
    if meta.get("shard") != [shard, n]:
        raise InputError(path, f'"shard": [{shard}, {n}], as its folder name says', repr(meta.get("shard")))
    for key in SHARD_KEYS:
        if meta.get(key) != reference.get(key):
            raise InputError(path, f"{key} {reference.get(key)!r} as in shard 0/{n} (one corpus, one model, one bf16 setting)", repr(meta.get(key)))
    expected = len(shard_range(shard, n, reference["corpus_count"]))
    if meta["count"] != expected:
        raise InputError(path, f"{expected} passages for shard {shard}/{n} of {reference['corpus_count']}", str(meta["count"]))


def _concatenate_embeddings(shards: list[DenseIndex], path: Path) -> np.ndarray:
    vectors = np.lib.format.open_memmap(
        path, mode="w+", dtype=np.float32, shape=(sum(len(index.ids) for index in shards), shards[0].meta["dim"])
    )
    row = 0
    for index in shards:
        vectors[row : row + len(index.ids)] = index.embeddings
        row += len(index.ids)
    vectors.flush()
    return vectors
