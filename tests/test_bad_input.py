"""Malformed inputs, driven through the CLI: each is refused with exit status 2, one line naming the file (and the
line, for line-based formats) and what was expected, and leaves nothing behind (issue 10, part 3).

Every case runs in its own folder holding a set of good files; the case replaces some of them with bad ones
(or damages a copy of an index built once per module), runs one command with paths relative to that folder,
and compares the folder before and after: a refused command must not have written its output or a temp file.
"""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path
from typing import Callable

import pytest
import torch
from transformers import AutoTokenizer, BertConfig, BertModel
from typer.testing import CliRunner

from tasb.cli import app
from tasb.models.resolve import resolve_model
from tiny_collection import CORPUS, QRELS, QUERIES, RUN_A, RUN_B

SCORES_A = "5.0\t1.0\tq1\tp2\tp1\n4.0\t2.0\tq1\tp2\tp3\n6.0\t0.5\tq2\tp1\tp3\n"
SCORES_B = "2.0\t1.5\tq1\tp2\tp1\n3.0\t0.5\tq1\tp2\tp3\n1.0\t0.1\tq2\tp1\tp3\n"
TRAIN_YAML = """\
output_dir: train_out
data:
  corpus: corpus.tsv
  queries: queries.tsv
teacher_scores: scores_a.tsv
steps: 2
batch_size: 2
"""
GOOD = {
    "corpus.tsv": CORPUS,
    "queries.tsv": QUERIES,
    "qrels.txt": QRELS,
    "run_a.trec": RUN_A,
    "run_b.trec": RUN_B,
    "scores_a.tsv": SCORES_A,
    "scores_b.tsv": SCORES_B,
    "train.yaml": TRAIN_YAML,
}

# the commands, with the files they read; a case swaps a bad file in under one of these names
BM25 = ["bm25", "--corpus", "corpus.tsv", "--queries", "queries.tsv", "--qrels", "qrels.txt", "--out", "bm25.trec"]
FUSE = ["fuse", "run_a.trec", "run_b.trec", "--out", "fused.trec"]
EVALUATE = ["evaluate", "--run", "run_a.trec", "--qrels", "qrels.txt"]
ENSEMBLE = ["teacher", "ensemble", "scores_a.tsv", "scores_b.tsv", "--out", "ensembled.tsv"]
TRAIN = ["train", "train.yaml"]
INDEX = ["index", "--corpus", "corpus.tsv", "--model", "@tiny", "--out", "new_index", "--no-bf16"]
SEARCH = ["search", "--index", "index", "--queries", "queries.tsv", "--out", "dense.trec"]
VERIFY = ["index", "verify", "index"]
TEACHER_SCORE = ["teacher", "score", "--scorer", "bm25", "--run", "run_a.trec", "--corpus", "corpus.tsv", "--queries", "queries.tsv",
                 "--qrels", "qrels.txt", "--out", "scored.tsv"]
TEACHER_TRAIN = ["teacher", "train", "--run", "run_a.trec", "--corpus", "corpus.tsv", "--queries", "queries.tsv", "--qrels", "qrels.txt",
                 "--out", "teacher", "--set", "model=@tiny", "--set", "steps=1"]
RERANK = ["rerank", "--scorer", "bm25", "--run", "run_a.trec", "--corpus", "corpus.tsv", "--queries", "queries.tsv", "--out", "reranked.trec"]

UTF8_BREAK = b"\xff\xfe broken \xc3\x28"


def _swap(argv: list[str], old: str, new: str) -> list[str]:
    """``argv`` reading ``new`` where it read ``old``."""
    assert old in argv
    return [new if arg == old else arg for arg in argv]


BM25_JSONL = _swap(BM25, "corpus.tsv", "corpus.jsonl")


@dataclasses.dataclass(frozen=True)
class Case:
    id: str
    argv: list[str]
    bad: str  # the file (or folder) the message must name
    line: int | None  # the line it must name, for line-based formats
    expected: str  # part of what the message says was expected
    files: dict[str, str | bytes] = dataclasses.field(default_factory=dict)
    damage: Callable[[Path], None] | None = None  # applied to the case's copy of the index folder


def _flip_byte(name: str) -> Callable[[Path], None]:
    def damage(index: Path) -> None:
        data = bytearray((index / name).read_bytes())
        data[-1] ^= 0xFF
        (index / name).write_bytes(bytes(data))

    return damage


def _remove(name: str) -> Callable[[Path], None]:
    return lambda index: (index / name).unlink()


def _write(name: str, text: str) -> Callable[[Path], None]:
    return lambda index: (index / name).write_text(text, encoding="utf-8")


CASES = [
    # corpus (TSV and BEIR JSONL)
    Case("corpus-tsv-one-column", BM25, "corpus.tsv", 2, "2 tab-separated columns: pid, text",
         {"corpus.tsv": "p1\tcats\np2 dense retrieval without a tab\n"}),
    Case("corpus-tsv-four-columns", BM25, "corpus.tsv", 3, "2 tab-separated columns",
         {"corpus.tsv": "p1\tcats\np2\tdogs\np3\ta\tb\tc\n"}),
    # an empty passage is kept (issue 17); text that is not a string would be searched as its Python repr
    Case("corpus-jsonl-text-a-list", BM25_JSONL, "corpus.jsonl", 2, "a string for the passage text",
         {"corpus.jsonl": '{"_id": "p1", "text": "cats"}\n{"_id": "p2", "text": ["dogs", "bark"]}\n'}),
    Case("corpus-jsonl-title-a-dict", BM25_JSONL, "corpus.jsonl", 1, "a string for the passage title",
         {"corpus.jsonl": '{"_id": "p1", "title": {"en": "Cats"}, "text": "purr"}\n'}),
    Case("corpus-tsv-empty-pid", BM25, "corpus.tsv", 2, "2 tab-separated columns", {"corpus.tsv": "p1\tcats\n\tdogs\n"}),
    Case("corpus-tsv-duplicate-pid", BM25, "corpus.tsv", 3, "unique passage ids",
         {"corpus.tsv": "p1\tcats\np2\tdogs\np1\tbirds\n"}),
    Case("corpus-tsv-non-utf8", BM25, "corpus.tsv", 2, "UTF-8 text",
         {"corpus.tsv": b"p1\tcats\np2\t" + UTF8_BREAK + b"\n"}),
    Case("corpus-jsonl-truncated-line", BM25_JSONL, "corpus.jsonl", 2, "one JSON object per line",
         {"corpus.jsonl": '{"_id": "p1", "text": "cats"}\n{"_id": "p2", "text": "do'}),
    Case("corpus-jsonl-missing-id", BM25_JSONL, "corpus.jsonl", 2, "a passage id field",
         {"corpus.jsonl": '{"_id": "p1", "text": "cats"}\n{"title": "Dogs", "text": "bark"}\n'}),
    Case("corpus-jsonl-not-an-object", BM25_JSONL, "corpus.jsonl", 2, "one JSON object per line",
         {"corpus.jsonl": '{"_id": "p1", "text": "cats"}\n["p2", "dogs"]\n'}),
    Case("corpus-empty-file", BM25, "corpus.tsv", None, "at least one record", {"corpus.tsv": ""}),
    Case("corpus-truncated-gzip", _swap(BM25, "corpus.tsv", "corpus.tsv.gz"), "corpus.tsv.gz", 1, "a complete gzip file",
         {"corpus.tsv.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03+H4"}),
    Case("index-empty-corpus", INDEX, "corpus.tsv", None, "at least one record", {"corpus.tsv": "\n  \n"}),
    # queries
    Case("queries-tsv-one-column", BM25, "queries.tsv", 1, "2 tab-separated columns: qid, query text",
         {"queries.tsv": "q1 what is dense retrieval\nq2\tcats\n"}),
    Case("queries-tsv-empty-text", BM25, "queries.tsv", 2, "a non-empty query text", {"queries.tsv": "q1\tcats\nq2\t\n"}),
    Case("queries-tsv-duplicate-qid", BM25, "queries.tsv", 2, "unique query ids", {"queries.tsv": "q1\tcats\nq1\tdogs\n"}),
    Case("queries-tsv-id-with-space", BM25, "queries.tsv", 2, "a non-empty id without whitespace",
         {"queries.tsv": "q1\tcats\nq 2\tdogs\n"}),
    Case("queries-non-utf8", BM25, "queries.tsv", 3, "UTF-8 text",
         {"queries.tsv": b"q1\tcats\n\nq2\t" + UTF8_BREAK + b"\n"}),
    Case("queries-jsonl-text-a-number", _swap(BM25, "queries.tsv", "queries.jsonl"), "queries.jsonl", 2, "a string for the query text",
         {"queries.jsonl": '{"_id": "q1", "text": "cats"}\n{"_id": "q2", "text": 42}\n'}),
    Case("queries-jsonl-missing-text", _swap(BM25, "queries.tsv", "queries.jsonl"), "queries.jsonl", 1, "a query text field",
         {"queries.jsonl": '{"_id": "q1", "title": "cats"}\n'}),
    Case("search-queries-truncated-jsonl", _swap(SEARCH, "queries.tsv", "queries.jsonl"), "queries.jsonl", 2,
         "one JSON object per line", {"queries.jsonl": '{"_id": "q1", "text": "cats"}\n{"_id": "q2", "te\n'}),
    # qrels
    Case("qrels-two-columns", BM25, "qrels.txt", 2, "TREC qrels 'qid 0 pid grade'", {"qrels.txt": "q1 0 p2 1\nq2 p1\n"}),
    Case("qrels-non-integer-grade", EVALUATE, "qrels.txt", 2, "an integer relevance grade", {"qrels.txt": "q1 0 p2 1\nq2 0 p1 high\n"}),
    Case("qrels-duplicate-judgment", EVALUATE, "qrels.txt", 2, "one judgment per passage for query q1",
         {"qrels.txt": "q1 0 p2 1\nq1 0 p2 0\n"}),
    Case("qrels-unknown-query", BM25, "qrels.txt", 3, "query ids that exist in queries.tsv",
         {"qrels.txt": "q1 0 p2 1\nq2 0 p1 1\nq9 0 p1 1\n"}),
    Case("qrels-non-utf8", EVALUATE, "qrels.txt", 2, "UTF-8 text", {"qrels.txt": b"q1 0 p2 1\nq2 0 p\xe9 1\n"}),
    Case("qrels-names-unknown-passage-score", TEACHER_SCORE, "qrels.txt", 2, "passage ids of the corpus",
         {"qrels.txt": "q1 0 p2 1\nq2 0 p99 1\n"}),
    Case("qrels-names-unknown-passage-teacher-train", TEACHER_TRAIN, "qrels.txt", 2, "passage ids of the corpus",
         {"qrels.txt": "q1 0 p2 1\nq2 0 p99 1\n"}),
    Case("qrels-empty-file", EVALUATE, "qrels.txt", None, "at least one judgment", {"qrels.txt": "\n"}),
    # runs
    Case("run-five-columns", FUSE, "run_b.trec", 2, "6 columns: qid Q0 pid rank score tag",
         {"run_b.trec": "q1 Q0 p2 1 0.9 b\nq1 Q0 p3 2 0.2\n"}),
    Case("run-non-numeric-score", FUSE, "run_a.trec", 3, "a number for score",
         {"run_a.trec": "q1 Q0 p2 1 3.0 a\nq1 Q0 p1 2 1.0 a\nq2 Q0 p1 1 high a\n"}),
    Case("run-nan-score", FUSE, "run_a.trec", 1, "a finite number for score", {"run_a.trec": "q1 Q0 p2 1 nan a\n"}),
    Case("run-non-integer-rank", EVALUATE, "run_a.trec", 1, "an integer rank", {"run_a.trec": "q1 Q0 p2 first 3.0 a\n"}),
    Case("run-duplicate-pid-in-query", FUSE, "run_a.trec", 2, "each passage once in the ranking of query q1",
         {"run_a.trec": "q1 Q0 p2 1 3.0 a\nq1 Q0 p2 2 1.0 a\n"}),
    Case("run-names-unknown-passage", RERANK, "run_a.trec", 2, "passage ids of the corpus",
         {"run_a.trec": "q1 Q0 p2 1 3.0 a\nq1 Q0 p99 2 1.0 a\n"}),
    # teacher scores
    Case("scores-four-columns", ENSEMBLE, "scores_b.tsv", 2, "5 tab-separated columns",
         {"scores_b.tsv": "2.0\t1.5\tq1\tp2\tp1\n3.0\t0.5\tq1\tp2\n"}),
    Case("scores-nan", ENSEMBLE, "scores_a.tsv", 2, "a finite number for score_pos",
         {"scores_a.tsv": "5.0\t1.0\tq1\tp2\tp1\nnan\t2.0\tq1\tp2\tp3\n"}),
    Case("scores-inf", ENSEMBLE, "scores_b.tsv", 3, "a finite number for score_neg",
         {"scores_b.tsv": "2.0\t1.5\tq1\tp2\tp1\n3.0\t0.5\tq1\tp2\tp3\n1.0\t-inf\tq2\tp1\tp3\n"}),
    Case("scores-non-numeric", ENSEMBLE, "scores_a.tsv", 1, "a number for score_pos", {"scores_a.tsv": "high\t1.0\tq1\tp2\tp1\n"}),
    Case("scores-empty-file", ENSEMBLE, "scores_b.tsv", None, "at least one scored pair", {"scores_b.tsv": ""}),
    Case("train-scores-unknown-qid", TRAIN, "scores_a.tsv", 3, "query ids with a text",
         {"scores_a.tsv": "5.0\t1.0\tq1\tp2\tp1\n\n4.0\t2.0\tq7\tp2\tp3\n"}),
    Case("train-scores-unknown-pid", TRAIN, "scores_a.tsv", 2, "passage ids of the corpus",
         {"scores_a.tsv": "5.0\t1.0\tq1\tp2\tp1\n4.0\t2.0\tq1\tp2\tp42\n"}),
    # configs
    Case("config-unknown-key", TRAIN, "train.yaml", 8, "keys of TrainConfig", {"train.yaml": TRAIN_YAML + "stepz: 10\n"}),
    Case("config-mistyped-value", TRAIN, "train.yaml", 6, "steps to be an integer",
         {"train.yaml": TRAIN_YAML.replace("steps: 2", 'steps: "ten"')}),
    Case("config-nested-unknown-key", TRAIN, "train.yaml", 10, "keys of StudentConfig",
         {"train.yaml": TRAIN_YAML + "student:\n  pooling: cls\n  poolling: mean\n"}),
    Case("config-bad-choice", TRAIN, "train.yaml", 8, "sampler to be one of random, tas, tas-balanced",
         {"train.yaml": TRAIN_YAML + "sampler: balanced\n"}),
    Case("config-yaml-syntax-error", TRAIN, "train.yaml", 3, "valid YAML",
         {"train.yaml": "output_dir: train_out\nsteps: 2\nbatch_size: [2\n"}),
    Case("config-numeric-key", TRAIN, "train.yaml", 9, "keys of TrainConfig", {"train.yaml": TRAIN_YAML + "seed: 1\n7: seven\n"}),
    Case("config-set-mistyped-value", [*TRAIN, "--set", "batch_size=two"], "--set batch_size=two", None,
         "batch_size to be an integer"),
    Case("config-not-a-mapping", TRAIN, "train.yaml", None, "a YAML mapping of config keys", {"train.yaml": "- steps\n- 2\n"}),
    Case("config-non-utf8", TRAIN, "train.yaml", 2, "UTF-8 text", {"train.yaml": b"steps: 2\noutput_dir: " + UTF8_BREAK + b"\n"}),
    # index folders
    Case("index-of-another-model", [*SEARCH, "--model", "@other"], "index", None, "a model matching the index's fingerprint"),
    Case("index-missing-folder", _swap(SEARCH, "index", "no_index"), "no_index", None, "an index folder"),
    Case("index-missing-ids", SEARCH, "index/ids.txt", None, "the index's passage ids", damage=_remove("ids.txt")),
    Case("index-corrupted-embeddings", SEARCH, "index", None, "an intact index folder", damage=_flip_byte("embeddings.npy")),
    Case("index-meta-not-json", SEARCH, "index/meta.json", None, "a JSON object", damage=_write("meta.json", "{not json")),
    Case("index-verify-changed-ids", VERIFY, "index", None, "files matching the checksums in meta.json",
         damage=_write("ids.txt", "p1\np2\np3\np5\n")),
]


def _tiny_bert(folder: Path, seed: int) -> Path:
    """As tests/conftest.py's helper: a 2-layer random BERT; another seed gives another model (another fingerprint)."""
    torch.manual_seed(seed)
    tokenizer = AutoTokenizer.from_pretrained(resolve_model("all-MiniLM-L6-v2"))
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
    )
    BertModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


@pytest.fixture(scope="module")
def models(tiny_bert_dir, tmp_path_factory) -> dict[str, str]:
    return {"@tiny": str(tiny_bert_dir), "@other": str(_tiny_bert(tmp_path_factory.mktemp("other-bert"), seed=1))}


@pytest.fixture(scope="module")
def built_index(models, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("good-index")
    (folder / "corpus.tsv").write_text(CORPUS, encoding="utf-8")
    out = folder / "index"
    argv = ["index", "--corpus", str(folder / "corpus.tsv"), "--model", models["@tiny"], "--out", str(out), "--no-bf16"]
    result = CliRunner().invoke(app, argv)
    assert result.exit_code == 0, result.output
    return out


def _with_models(arg: str, models: dict[str, str]) -> str:
    for name, path in models.items():
        arg = arg.replace(name, path)
    return arg


def _listing(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in CASES])
def test_bad_input_is_refused_cleanly(case: Case, tmp_path, monkeypatch, models, built_index):
    for name, content in {**GOOD, **case.files}.items():
        path = tmp_path / name
        path.write_bytes(content) if isinstance(content, bytes) else path.write_text(content, encoding="utf-8")
    shutil.copytree(built_index, tmp_path / "index")
    if case.damage is not None:
        case.damage(tmp_path / "index")
    before = _listing(tmp_path)
    monkeypatch.chdir(tmp_path)

    result = CliRunner().invoke(app, [_with_models(arg, models) for arg in case.argv])

    output = result.output
    assert "Traceback" not in output
    assert isinstance(result.exception, SystemExit), f"{type(result.exception).__name__}: {result.exception}"
    assert result.exit_code == 2, output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, output
    message = errors[0]
    where = f"{case.bad}:{case.line}" if case.line is not None else case.bad
    assert f"error: {where}: expected " in message
    assert case.expected in message
    assert _listing(tmp_path) == before, "a refused command left output (or a temp file) behind"


def test_at_least_thirty_cases():
    assert len({case.id for case in CASES}) == len(CASES) >= 30
