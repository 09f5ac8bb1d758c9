"""Readers for corpus, query, qrels, run and cluster files: BEIR JSONL, MS MARCO TSV, TREC.

Each line is validated; a bad one raises :class:`~tasb.errors.InputError` with file, line and what
was expected. Formats are detected from the content, not trusted from the file name.
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import zlib
from pathlib import Path
from typing import Iterator

from tasb.data.records import Corpus, Qrels, Queries, Run
from tasb.errors import InputError

logger = logging.getLogger(__name__)


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb")


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, line)`` for the non-blank lines of a UTF-8 text file (optionally gzipped)."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "an existing file", "no such file")
    # decoded line by line, so a bad byte is reported at its own line
    with _open_binary(path) as handle:
        number = 0
        while True:
            try:
                raw = handle.readline()
            except (OSError, EOFError, zlib.error) as err:
                # a truncated or corrupt .gz file fails on read (EOFError), not on open: name it, don't crash
                expected = "a complete gzip file" if path.suffix == ".gz" else "a readable file"
                raise InputError(path, expected, f"{type(err).__name__}: {err}", line=number + 1) from None
            if not raw:
                break
            number += 1
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8").rstrip("\r\n")
            except UnicodeDecodeError as err:
                raise InputError(path, "UTF-8 text", f"undecodable bytes ({err.reason})", line=number) from None
            if line.strip():
                yield number, line


def line_naming(
    path: str | Path, ids: set[str] | frozenset[str], columns: tuple[int, ...], sep: str | None = None
) -> tuple[int, str] | None:
    """The first line of ``path`` whose ``columns`` (split on ``sep``) name one of ``ids``: its number and that id.

    For checks made after reading, e.g. ids another file lacks: the error can still point at a line.
    """
    try:
        for number, line in iter_lines(path):
            cols = line.split(sep)
            for column in columns:
                if column < len(cols) and cols[column].strip() in ids:
                    return number, cols[column].strip()
    except InputError:
        return None
    return None


def _is_jsonl(path: Path) -> bool:
    for _, line in iter_lines(path):
        return line.lstrip().startswith("{")
    raise InputError(path, "at least one record", "an empty file")


def _json_record(path: Path, number: int, line: str) -> dict:
    try:
        record = json.loads(line)
    except json.JSONDecodeError as err:
        raise InputError(path, "one JSON object per line", f"invalid JSON ({err.msg})", line=number) from None
    if not isinstance(record, dict):
        raise InputError(path, "one JSON object per line", type(record).__name__, line=number)
    return record


def _first_key(record: dict, keys: tuple[str, ...], path: Path, number: int, what: str):
    for key in keys:
        if key in record and record[key] is not None:
            return record[key]
    raise InputError(path, f"a {what} field ({' or '.join(keys)})", json.dumps(record)[:80], line=number)


_ID_KEYS = ("_id", "doc_id", "docid", "id", "pid")
_TEXT_KEYS = ("text", "contents", "doc", "body")


def _add_unique(table: dict, key: str, value, path: Path, number: int, expected: str) -> None:
    if not key or any(c.isspace() for c in key):
        # TREC runs and qrels are whitespace-separated: such an id could not be written back
        raise InputError(path, "a non-empty id without whitespace", repr(key), line=number)
    if key in table:
        raise InputError(path, expected, f"duplicate id {key}", line=number)
    table[key] = value


def _check_text(text: str, path: Path, number: int, what: str) -> str:
    if not text.strip():
        raise InputError(path, f"a non-empty {what} text", repr(text), line=number)
    return text


def _string(value: object, path: Path, number: int, what: str) -> str:
    # str() of a list or dict would be searched as its Python repr
    if not isinstance(value, str):
        raise InputError(path, f"a string for the {what}", json.dumps(value)[:80], line=number)
    return value


def read_corpus(path: str | Path) -> Corpus:
    """Passages from BEIR ``corpus.jsonl`` (``_id``, ``title``, ``text``) or TSV ``pid<TAB>text``.

    A BEIR title is joined to the body with a space, as BEIR's own dense-retrieval code does. Empty passages
    are kept: public collections hold some, and qrels may judge them.
    """
    path = Path(path)
    corpus = _read_jsonl_corpus(path) if _is_jsonl(path) else _read_tsv_corpus(path)
    empty = sum(1 for text in corpus.values() if not text.strip())
    if empty:
        logger.warning("%s: %d of %d passages are empty (no title, no text); they are kept, but BM25 never retrieves them", path, empty, len(corpus))
    return corpus


def _read_jsonl_corpus(path: Path) -> Corpus:
    corpus: Corpus = {}
    for number, line in iter_lines(path):
        record = _json_record(path, number, line)
        pid = str(_first_key(record, _ID_KEYS, path, number, "passage id"))
        body = _string(_first_key(record, _TEXT_KEYS, path, number, "passage text"), path, number, "passage text")
        title = record.get("title")
        title = "" if title is None else _string(title, path, number, "passage title")
        _add_unique(corpus, pid, f"{title} {body}".strip(), path, number, "unique passage ids")
    return corpus


def _read_tsv_corpus(path: Path) -> Corpus:
    corpus: Corpus = {}
    for number, line in iter_lines(path):
        cols = line.split("\t")
        if len(cols) == 3:  # pid, title, text
            cols = [cols[0], f"{cols[1]} {cols[2]}".strip()]
        if len(cols) != 2 or not cols[0].strip():
            raise InputError(path, "2 tab-separated columns: pid, text", line, line=number)
        _add_unique(corpus, cols[0].strip(), cols[1], path, number, "unique passage ids")
    return corpus


def read_queries(path: str | Path) -> Queries:
    """Queries from BEIR ``queries.jsonl`` (``_id``, ``text``) or TSV ``qid<TAB>text``."""
    path = Path(path)
    queries: Queries = {}
    if _is_jsonl(path):
        for number, line in iter_lines(path):
            record = _json_record(path, number, line)
            qid = str(_first_key(record, ("_id", "query_id", "qid", "id"), path, number, "query id"))
            text = _string(_first_key(record, ("text", "query"), path, number, "query text"), path, number, "query text")
            _add_unique(queries, qid, _check_text(text, path, number, "query"), path, number, "unique query ids")
    else:
        for number, line in iter_lines(path):
            cols = line.split("\t")
            if len(cols) != 2 or not cols[0].strip():
                raise InputError(path, "2 tab-separated columns: qid, query text", line, line=number)
            _add_unique(
                queries, cols[0].strip(), _check_text(cols[1], path, number, "query"), path, number, "unique query ids"
            )
    return queries


def _parse_int(value: str, path: Path, number: int, what: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InputError(path, f"an integer {what}", value, line=number) from None


# trec_eval holds grades in 32-bit ints: a larger one crashes or hangs it (ir-measures' pytrec_eval backend)
_GRADES = range(-(2**31), 2**31)


def _parse_grade(value: str, path: Path, number: int) -> int:
    grade = _parse_int(value, path, number, "relevance grade")
    if grade not in _GRADES:
        raise InputError(path, f"a relevance grade from {_GRADES.start} to {_GRADES.stop - 1}", value, line=number)
    return grade


def _parse_float(value: str, path: Path, number: int, what: str) -> float:
    try:
        parsed = float(value)
    except ValueError:
        raise InputError(path, f"a number for {what}", value, line=number) from None
    if not math.isfinite(parsed):
        raise InputError(path, f"a finite number for {what}", value, line=number)
    return parsed


_BEIR_QRELS_HEADER = ("query-id", "corpus-id", "score")


def read_qrels(path: str | Path) -> Qrels:
    """Judgments from TREC qrels (``qid 0 pid grade``) or BEIR ``qrels/<split>.tsv`` (``qid pid score``)."""
    path = Path(path)
    qrels: Qrels = {}
    for index, (number, line) in enumerate(iter_lines(path)):
        cols = line.split()
        if index == 0 and tuple(c.lower() for c in cols) == _BEIR_QRELS_HEADER:
            continue
        if len(cols) == 4:
            qid, _, pid, grade = cols
        elif len(cols) == 3:
            qid, pid, grade = cols
        else:
            raise InputError(path, "TREC qrels 'qid 0 pid grade' or BEIR 'qid pid score'", line, line=number)
        _add_unique(
            qrels.setdefault(qid, {}),
            pid,
            _parse_grade(grade, path, number),
            path,
            number,
            f"one judgment per passage for query {qid}",
        )
    if not qrels:
        raise InputError(path, "at least one judgment", "an empty file")
    return qrels


def read_run(path: str | Path) -> Run:
    """A TREC run ``qid Q0 pid rank score tag``; ranks are recomputed from the scores."""
    path = Path(path)
    run: Run = {}
    for number, line in iter_lines(path):
        cols = line.split()
        if len(cols) != 6:
            raise InputError(path, "6 columns: qid Q0 pid rank score tag", line, line=number)
        qid, _, pid, rank, score, _tag = cols
        _parse_int(rank, path, number, "rank")
        _add_unique(
            run.setdefault(qid, {}),
            pid,
            _parse_float(score, path, number, "score"),
            path,
            number,
            f"each passage once in the ranking of query {qid}",
        )
    if not run:
        raise InputError(path, "at least one ranked passage", "an empty file")
    return run


def read_clusters(path: str | Path) -> dict[str, str]:
    """Topic clusters of the queries for TAS: ``qid<TAB>cluster`` per line, an optional ``qid<TAB>cluster`` header.

    Labels stay strings: k-means numbers its clusters, but a user may name them.
    """
    path = Path(path)
    clusters: dict[str, str] = {}
    for index, (number, line) in enumerate(iter_lines(path)):
        cols = [col.strip() for col in line.split("\t")]
        if index == 0 and [col.lower() for col in cols] == ["qid", "cluster"]:
            continue
        if len(cols) != 2:
            raise InputError(path, "2 tab-separated columns: qid, cluster", line, line=number)
        if not cols[1]:
            raise InputError(path, "a non-empty cluster label", line, line=number)
        _add_unique(clusters, cols[0], cols[1], path, number, "one cluster per query")
    if not clusters:
        raise InputError(path, "at least one query and its cluster", "an empty file")
    return clusters
