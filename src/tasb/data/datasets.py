"""Locate and load a dataset: a BEIR folder, explicit files, or ``irds:<id>`` through ir_datasets."""

from __future__ import annotations

import os
from pathlib import Path

from tasb.data.readers import iter_lines, line_naming, read_corpus, read_qrels, read_queries
from tasb.data.records import Corpus, Dataset, Qrels, Queries
from tasb.errors import InputError
from tasb.layout import beir_file_names

DATA_DIR_ENV = "TASB_DATA_DIR"


def resolve_data_path(data: str | None) -> Path:
    """The data folder ``data`` names, else ``$TASB_DATA_DIR``; a relative name is also tried under the latter."""
    root = os.environ.get(DATA_DIR_ENV)
    if data is None:
        if not root:
            raise InputError("data", f"a dataset (a BEIR folder or irds:ID), or {DATA_DIR_ENV} set to one")
        return Path(root)
    path = Path(data).expanduser()
    if path.exists():
        return path
    if root and (Path(root) / data).exists():
        return Path(root) / data
    hint = f" (also looked under ${DATA_DIR_ENV}={root})" if root else f" (or set {DATA_DIR_ENV} to the folder holding it)"
    raise InputError(data, f"an existing BEIR folder with corpus.jsonl, queries.jsonl and qrels/{hint}", "no such folder")


def _beir_file(folder: Path, name: str) -> Path:
    for candidate in (folder / spelled for spelled in beir_file_names(name)):
        if candidate.exists():
            return candidate
    raise InputError(folder / name, "a BEIR folder file", "no such file")


def load_irds(dataset_id: str, split: str | None = None, with_docs: bool = True) -> Dataset:
    """Load ``irds:<id>`` through ir_datasets (downloads on first use; needs internet)."""
    import ir_datasets

    name = f"{dataset_id}/{split}" if split and f"{dataset_id}/{split}" in ir_datasets.registry else dataset_id
    try:
        ds = ir_datasets.load(name)
    except KeyError:
        raise InputError(f"irds:{dataset_id}", "an ir_datasets id (see ir_datasets.registry)", name) from None
    # default_text() is ir_datasets' own choice of fields (BEIR: title and text joined)
    has_docs = with_docs and ds.has_docs()
    corpus: Corpus = {str(doc.doc_id): doc.default_text() for doc in ds.docs_iter()} if has_docs else {}
    queries: Queries = {str(q.query_id): q.default_text() for q in ds.queries_iter()} if ds.has_queries() else {}
    qrels: Qrels = {}
    if ds.has_qrels():
        for qrel in ds.qrels_iter():
            qrels.setdefault(str(qrel.query_id), {})[str(qrel.doc_id)] = int(qrel.relevance)
    if qrels:
        queries = {qid: text for qid, text in queries.items() if qid in qrels}
    return Dataset(corpus, queries, qrels, source=f"irds:{name}")


def load_queries(
    data: str | None = None,
    split: str = "test",
    queries: str | None = None,
    qrels: str | None = None,
    need_qrels: bool = True,
) -> tuple[Queries, Qrels]:
    """Queries and judgments without the corpus; queries are restricted to those judged in the qrels."""
    if data is not None and data.startswith("irds:"):
        dataset = load_irds(data[len("irds:") :], split, with_docs=False)
        return dataset.queries, dataset.qrels
    folder = resolve_data_path(data) if (data is not None or not queries) else None
    queries_path = Path(queries) if queries else _beir_file(folder, "queries.jsonl")
    qrels_path = _qrels_path(folder, split, qrels, need_qrels)
    loaded_qrels = read_qrels(qrels_path) if qrels_path is not None else {}
    all_queries = read_queries(queries_path)
    if loaded_qrels:
        unknown = set(loaded_qrels) - set(all_queries)
        if unknown:
            line, qid = line_naming(qrels_path, unknown, (0,)) or (None, min(unknown))
            raise InputError(qrels_path, f"query ids that exist in {queries_path}", qid, line=line)
        all_queries = {qid: text for qid, text in all_queries.items() if qid in loaded_qrels}
    return all_queries, loaded_qrels


def load_qrels(data: str | None = None, split: str = "test", qrels: str | None = None) -> Qrels:
    """Just the judgments: an explicit file, a BEIR folder's ``qrels/<split>.tsv``, or an ir_datasets split's."""
    if qrels is None and data is not None and data.startswith("irds:"):
        return load_irds(data[len("irds:") :], split, with_docs=False).qrels
    folder = resolve_data_path(data) if qrels is None else None
    return read_qrels(_qrels_path(folder, split, qrels, need_qrels=True))


def _qrels_path(folder: Path | None, split: str, qrels: str | None, need_qrels: bool) -> Path | None:
    """The explicit qrels file, else the folder's split, which must exist; None when neither is there."""
    if qrels:
        return Path(qrels)
    path = folder / "qrels" / f"{split}.tsv" if folder else None
    if path is not None and not path.exists():
        raise InputError(path, f"qrels for split '{split}' (the folder's splits: {_splits(folder)})", "no such file")
    if need_qrels and path is None:
        raise InputError("qrels", "judgments: a qrels file, or a data folder with qrels/")
    return path


def load_dataset(
    data: str | os.PathLike[str] | None = None,
    split: str = "test",
    corpus: str | None = None,
    queries: str | None = None,
    qrels: str | None = None,
    need_qrels: bool = True,
) -> Dataset:
    """Explicit files win over the folder's; queries are restricted to those judged in the split's qrels."""
    data = None if data is None else os.fspath(data)
    if data is not None and data.startswith("irds:"):
        return load_irds(data[len("irds:") :], split)
    loaded_queries, loaded_qrels = load_queries(data, split, queries, qrels, need_qrels)
    source = data or corpus or ""
    return Dataset(load_corpus(data, corpus), loaded_queries, loaded_qrels, source=str(source))


def load_corpus(data: str | None = None, corpus: str | None = None) -> Corpus:
    """Just the passages: an explicit file, a BEIR folder's corpus.jsonl, or an ir_datasets corpus."""
    if corpus:
        return read_corpus(corpus)
    if data is not None and data.startswith("irds:"):
        return load_irds(data[len("irds:") :]).corpus
    return read_corpus(_beir_file(resolve_data_path(data), "corpus.jsonl"))


def check_judged_passages(dataset: Dataset, data: str | None, split: str, qrels: str | None) -> None:
    """Refuse relevant judgments naming passages the corpus lacks (teachers train on their text), by qrels line."""
    missing = {pid for grades in dataset.qrels.values() for pid, grade in grades.items() if grade > 0 and pid not in dataset.corpus}
    if not missing:
        return
    path = Path(qrels) if qrels else None
    if path is None and data is not None and not data.startswith("irds:"):
        path = resolve_data_path(data) / "qrels" / f"{split}.tsv"
    line, pid = (line_naming(path, missing, _passage_column(path)) if path is not None else None) or (None, min(missing))
    raise InputError(path or "qrels", f"passage ids of the corpus {dataset.source} (the text of every relevant passage)", pid, line=line)


def _passage_column(qrels: Path) -> tuple[int]:
    """Where a qrels line names its passage: column 2 of TREC's ``qid 0 pid grade``, column 1 of BEIR's TSV."""
    first = next((line for _, line in iter_lines(qrels)), "")
    return (2,) if len(first.split()) == 4 else (1,)


def _splits(folder: Path | None) -> str:
    if folder is None or not (folder / "qrels").is_dir():
        return "none found"
    return ", ".join(sorted(p.stem for p in (folder / "qrels").glob("*.tsv"))) or "none found"
