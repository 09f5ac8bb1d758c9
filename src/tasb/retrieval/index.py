"""A dense index: every passage encoded once by BERT_DOT, searched by inner product, exactly or approximately.

An index folder holds ``embeddings.npy`` (float32, opened memory-mapped), ``ids.txt`` (one pid per line,
in row order) and ``meta.json`` (which model built it, how it pooled, how long its inputs were). The
model's fingerprint is stored so a search with any other model is refused instead of silently ranking
with vectors from two different spaces. An approximate index (``type`` hnsw or ivfpq) adds ``faiss.index``;
``meta.json`` records its type and parameters, and ``embeddings.npy`` stays for exact search and recall checks.
``tasb.retrieval.shards`` writes the same folder from a corpus encoded in resumable pieces, never all in memory.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path
from typing import Sequence

import faiss
import numpy as np

from tasb.config import IndexConfig
from tasb.data.records import Corpus, Queries, Run
from tasb.errors import InputError
from tasb.fsutil import atomic_dir, link_or_copy
from tasb.layout import CHECKSUMMED, EMBEDDINGS, FAISS_INDEX, IDS, META
from tasb.models.student import BertDot
from tasb.outputs import check_folder
from tasb.retrieval.ann import INDEX_TYPES, build_ann, configure, recall_against_exact, resolved_settings

FORMAT = 1


def build_index(
    model: BertDot,
    corpus: Corpus,
    out_dir: str | Path,
    batch_size: int = 32,
    bf16: bool = True,
    model_name: str = "",
    ann: IndexConfig | None = None,
) -> "DenseIndex":
    """Encode every passage of ``corpus`` and write an index folder at ``out_dir``; it appears whole or not at all.

    ``ann`` picks an approximate index (default: exact, flat)."""
    out_dir = Path(out_dir)
    if not corpus:
        raise InputError(None, "a corpus with at least one passage", "an empty corpus")
    _refuse_foreign_folder(out_dir)
    pids = list(corpus)
    _check_pids(pids)
    ann = ann if ann is not None else IndexConfig()
    # settings are checked before the passages take their minutes to encode
    settings = resolved_settings(ann, len(pids), model.dim)
    vectors = model.encode_passages([corpus[pid] for pid in pids], batch_size=batch_size, bf16=bf16, progress="index")
    meta = index_meta(encoder_meta(model, model_name, bf16), len(pids), ann.type, settings)
    with atomic_dir(out_dir) as tmp:
        np.save(tmp / EMBEDDINGS, np.ascontiguousarray(vectors, dtype=np.float32))
        write_ids(tmp / IDS, pids)
        _finish_folder(tmp, vectors, meta)
    return DenseIndex.load(out_dir, verify=False)  # hashed a moment ago, as it was written


# what a folder's vectors depend on besides the passages: vectors from folders that differ here do not mix
ENCODER_KEYS = ("model", "model_fingerprint", "pooling", "normalize", "dim", "query_max_length", "passage_max_length", "bf16")


def encoder_meta(model: BertDot, model_name: str, bf16: bool) -> dict:
    """The ``ENCODER_KEYS`` of ``meta.json`` for vectors ``model`` encodes; fingerprinting hashes every weight, so call it once."""
    return {
        "model": model_name,
        "model_fingerprint": model.fingerprint(),
        "pooling": model.pooling,
        "normalize": model.normalize,
        "dim": model.dim,
        "query_max_length": model.query_max_length,
        "passage_max_length": model.passage_max_length,
        "bf16": bf16,
    }


def index_meta(encoder: dict, count: int, index_type: str, settings: dict, **extra: object) -> dict:
    """``meta.json`` of a folder of ``count`` vectors from ``encoder`` (see ``encoder_meta``), searched as ``index_type``."""
    return {
        "format": FORMAT,
        **encoder,
        "count": count,
        "index_type": index_type,
        **({"ann": settings} if settings else {}),
        **extra,
        "created": _now(),
    }


def write_ids(path: Path, pids: Sequence[str]) -> None:
    path.write_text("".join(f"{pid}\n" for pid in pids), encoding="utf-8")


def reindex(source: "DenseIndex", out_dir: str | Path, ann: IndexConfig | None = None) -> "DenseIndex":
    """``source``'s vectors as another index type at ``out_dir``, without encoding any passage again.

    ``embeddings.npy`` and ``ids.txt`` are hard-linked where the file system allows (an index folder is
    only ever replaced whole, never edited, so the two folders cannot drift apart), else copied.
    """
    out_dir = Path(out_dir)
    if out_dir.resolve() == source.path.resolve():
        raise InputError(out_dir, "an output folder other than the source index", "the source itself")
    _refuse_foreign_folder(out_dir)
    ann = ann if ann is not None else IndexConfig()
    settings = resolved_settings(ann, source.meta["count"], source.meta["dim"])
    meta = {key: value for key, value in source.meta.items() if key != "ann"}
    meta.update(index_type=ann.type, **({"ann": settings} if settings else {}), created=_now(), reindexed_from=str(source.path.resolve()))
    with atomic_dir(out_dir) as tmp:
        for name in (EMBEDDINGS, IDS):
            link_or_copy(source.path / name, tmp / name)
        _finish_folder(tmp, source.embeddings, meta)
    return DenseIndex.load(out_dir, verify=False)  # hashed a moment ago, as it was written


def _finish_folder(folder: Path, vectors: np.ndarray, meta: dict) -> None:
    if INDEX_TYPES[meta["index_type"]].approximate:
        ann = build_ann(np.ascontiguousarray(vectors, dtype=np.float32), meta["index_type"], meta["ann"])
        faiss.write_index(ann, str(folder / FAISS_INDEX))
    checksums = {name: file_sha256(folder / name) for name in CHECKSUMMED if (folder / name).is_file()}
    (folder / META).write_text(json.dumps({**meta, "checksums": checksums}, indent=2) + "\n", encoding="utf-8")


def file_sha256(path: Path, chunk: int = 1 << 24) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def verify_folder(path: str | Path) -> list[str]:
    """What differs from the checksums ``meta.json`` recorded when the folder was written (empty: intact)."""
    path = Path(path)
    meta = _read_meta(path / META)
    recorded = meta.get("checksums")
    if not recorded:
        return [f"{path / META}: no checksums recorded (built before tasb recorded them): rebuild the index to have them"]
    problems = []
    for name, expected in recorded.items():
        if name not in CHECKSUMMED:
            # a key naming another file (../../etc/shadow) would have tasb read and hash whatever it points at
            problems.append(f"{path / META}: a checksum for {name!r}, which is not a file of an index ({', '.join(CHECKSUMMED)})")
        elif not (path / name).is_file():
            problems.append(f"{path / name}: missing")
        elif file_sha256(path / name) != expected:
            problems.append(f"{path / name}: sha256 differs from the one meta.json recorded (changed or corrupted since the index was built)")
    return problems


def _now() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def _refuse_foreign_folder(out_dir: Path) -> None:
    # replacing the folder is atomic but total: only an earlier index may be swapped out, refused before the encoding
    check_folder(out_dir, "index")


def _check_pids(pids: list[str]) -> None:
    # ids.txt is one id per line: an id holding a line break would shift every later row
    for pid in pids:
        if not pid or "\n" in pid or "\r" in pid:
            raise InputError(None, "passage ids that are non-empty and hold no line break", repr(pid))


class DenseIndex:
    """An index folder opened for search; embeddings stay memory-mapped until the first search."""

    def __init__(self, path: Path, meta: dict, ids: list[str], embeddings: np.ndarray):
        self.path = path
        self._meta = meta
        self._ids = ids
        self._embeddings = embeddings
        self._faiss: faiss.Index | None = None

    @classmethod
    def load(cls, path: str | Path, verify: bool = True) -> "DenseIndex":
        """Open an index folder; ``verify`` checks its files against the checksums meta.json recorded (~1 s per GB)."""
        path = Path(path)
        if not path.is_dir():
            raise InputError(path, "an index folder (meta.json, ids.txt, embeddings.npy)", "no such folder")
        meta = _read_meta(path / META)
        ids = _read_ids(path / IDS)
        embeddings = _read_embeddings(path / EMBEDDINGS)
        if len(ids) != meta["count"] or embeddings.shape[0] != meta["count"]:
            raise InputError(
                path,
                f"{meta['count']} passages (meta.json count) in both {IDS} and {EMBEDDINGS}",
                f"{len(ids)} ids and {embeddings.shape[0]} embedding rows",
            )
        if embeddings.shape[1] != meta["dim"]:
            raise InputError(path / EMBEDDINGS, f"{meta['dim']}-dimensional rows (meta.json dim)", f"{embeddings.shape[1]} columns")
        # after the shape checks, whose messages say more; a flipped bit passes those and only this finds it
        if verify and meta.get("checksums"):
            problems = verify_folder(path)
            if problems:
                raise InputError(path, "an intact index folder (rebuild it)", "; ".join(problems))
        return cls(path, meta, ids, embeddings)

    @property
    def meta(self) -> dict:
        return self._meta

    @property
    def ids(self) -> list[str]:
        return self._ids

    @property
    def embeddings(self) -> np.ndarray:
        return self._embeddings

    def check_model(self, model: BertDot) -> None:
        """Refuse a model other than the one that built the index: its query vectors would live in another space."""
        built_by = self._meta.get("model") or "an unnamed model"
        expected = self._meta["model_fingerprint"]
        got = model.fingerprint()
        if got != expected:
            raise InputError(
                self.path,
                f"a model matching the index's fingerprint {expected} (the index was built with {built_by}; "
                "search with that model or rebuild the index)",
                f"a model with fingerprint {got}",
            )

    def search(self, query_vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by inner product for each query: ``(scores, row indices)``, each ``(n_queries, k)``."""
        if k < 1:
            raise InputError(None, "a number of results k >= 1", str(k))
        queries = np.ascontiguousarray(query_vectors, dtype=np.float32)
        if queries.ndim != 2 or queries.shape[1] != self._meta["dim"]:
            raise ValueError(f"query vectors must have shape (n, {self._meta['dim']}), got {queries.shape}")
        return faiss_search(self.searcher(), queries, min(k, len(self._ids)))

    def recall_against_exact(self, query_vectors: np.ndarray, k: int) -> float:
        """Mean share of each query's exact top-``k`` that this index's search returns (1.0 for flat)."""
        _, rows = self.search(query_vectors, k)
        return recall_against_exact(self._embeddings, rows, query_vectors, min(k, len(self._ids)))

    def searcher(self) -> faiss.Index:
        """The faiss index searches run on: flat vectors loaded, or the approximate index read and configured."""
        if self._faiss is None:
            index_type = self._meta.get("index_type", "flat")
            if INDEX_TYPES[index_type].approximate:
                self._faiss = self._read_ann(index_type)
            else:
                self._faiss = build_ann(np.ascontiguousarray(self._embeddings), index_type, {})
        return self._faiss

    def _read_ann(self, index_type: str) -> faiss.Index:
        path = self.path / FAISS_INDEX
        if not path.is_file():
            raise InputError(path, f"the {index_type} index meta.json names", "no such file")
        try:
            index = faiss.read_index(str(path))
        except (RuntimeError, MemoryError):
            # a damaged header can ask faiss for any size: MemoryError is as much the file's fault as a short read
            raise InputError(path, f"a {index_type} index faiss can read (rebuild the index)", "a damaged or truncated file") from None
        if not isinstance(index, INDEX_TYPES[index_type].faiss_class):
            raise InputError(path, f"a faiss {index_type} index (meta.json index_type)", type(index).__name__)
        if index.ntotal != self._meta["count"]:
            raise InputError(path, f"{self._meta['count']} vectors (meta.json count)", str(index.ntotal))
        configure(index, index_type, self._meta["ann"])
        return index


def faiss_search(index: faiss.Index, vectors: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``index.search``, with an HNSW search list of at least ``k`` and a single query scanning a flat index on one thread.

    An HNSW search keeps ``efSearch`` candidates: fewer than k cannot hold the top k (37K MS MARCO passages,
    efSearch 128: recall@1000 .59; at 1000: .98). faiss gives one query to one flat-scan thread anyway, but
    with more threads allowed its batch-1 scan ran 2.6x slower here (1M x 384: 148 vs 57 ms, the one-thread
    time within 1.15x of reading the vectors once).
    """
    if isinstance(index, faiss.IndexHNSW) and index.hnsw.efSearch < k:
        return index.search(vectors, k, params=faiss.SearchParametersHNSW(efSearch=k))
    if len(vectors) != 1 or not isinstance(index, faiss.IndexFlat):
        return index.search(vectors, k)
    threads = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(vectors, k)
    finally:
        faiss.omp_set_num_threads(threads)


_META_KEYS = ("format", "model_fingerprint", "dim", "count", "bf16")


def _read_meta(path: Path) -> dict:
    if not path.is_file():
        raise InputError(path, "the index's meta.json", "no such file")
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputError(path, "a JSON object", f"unreadable JSON ({err})") from None
    if not isinstance(meta, dict):
        raise InputError(path, "a JSON object", type(meta).__name__)
    missing = [key for key in _META_KEYS if key not in meta]
    if missing:
        raise InputError(path, f"the keys {', '.join(_META_KEYS)}", f"no {', '.join(missing)}")
    index_type = meta.get("index_type", "flat")
    if index_type not in INDEX_TYPES or (INDEX_TYPES[index_type].approximate and "ann" not in meta):
        raise InputError(path, "index_type flat, or hnsw / ivfpq with its ann settings", str(index_type))
    if meta["format"] != FORMAT:
        raise InputError(path, f"index format {FORMAT} (rebuild the index with this version of tasb)", str(meta["format"]))
    return meta


def _read_ids(path: Path) -> list[str]:
    if not path.is_file():
        raise InputError(path, "the index's passage ids, one per line", "no such file")
    lines = path.read_text(encoding="utf-8").split("\n")
    # ids may hold any character but a line break, so only "\n" splits (not str.splitlines)
    if lines[-1] == "":
        lines.pop()
    return lines


def _read_embeddings(path: Path) -> np.ndarray:
    if not path.is_file():
        raise InputError(path, "the index's embeddings (a .npy array)", "no such file")
    try:
        embeddings = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError as err:
        raise InputError(path, "a .npy array", f"unreadable ({err})") from None
    if embeddings.ndim != 2 or embeddings.dtype != np.float32:
        raise InputError(path, "a 2-D float32 array", f"{embeddings.ndim}-D {embeddings.dtype}")
    return embeddings


def load_index_model(index: DenseIndex, model: str | None = None, device: str = "cpu") -> BertDot:
    """The student that built ``index`` (or ``model``), with the pooling and lengths its meta.json records, on
    ``device``, checked against the index's fingerprint: searches with it may pass ``check_model=False``."""
    meta = index.meta
    name = model or meta["model"]
    try:
        student = BertDot.load(
            name,
            pooling=meta["pooling"],
            normalize=meta["normalize"],
            query_max_length=meta["query_max_length"],
            passage_max_length=meta["passage_max_length"],
            device=device,
        )
    except InputError as err:
        if model is not None:
            raise
        raise InputError(index.path / META, _recorded_model_expected(name), err.got or err.expected) from None
    index.check_model(student)
    return student


def _recorded_model_expected(name: str) -> str:
    """What meta.json's model should have been; a relative path depends on where tasb runs."""
    relative = "" if Path(name).expanduser().is_absolute() else ", not an absolute path: looked up from the working directory, then the hub"
    return f"the model that built the index ('model' is {name}{relative}), or `model` naming that model"


def search(
    index: DenseIndex,
    model: BertDot,
    queries: Queries,
    k: int = 1000,
    batch_size: int = 256,
    bf16: bool | None = None,
    progress: str | None = "search",
    check_model: bool = True,
) -> Run:
    """The top-``k`` passages of the index for every query. ``bf16=None`` encodes queries as the index encoded passages.

    ``check_model=False`` skips the fingerprint check (it hashes every weight) for a caller that made it once.
    """
    if check_model:
        index.check_model(model)
    qids = list(queries)
    use_bf16 = index.meta["bf16"] if bf16 is None else bf16
    vectors = model.encode_queries([queries[qid] for qid in qids], batch_size=batch_size, bf16=use_bf16, progress=progress)
    scores, rows = index.search(vectors, k)
    ids = index.ids
    return {
        qid: {ids[row]: score for row, score in zip(row_list, score_list)}
        for qid, row_list, score_list in zip(qids, rows.tolist(), scores.tolist())
    }
