"""What the operating system refuses, and models or index files that cannot be opened, driven through the CLI
(issue 17, part 4): exit status 2, one line naming the file the user gave, and nothing left behind, not even a
hidden temp file; SIGTERM or Ctrl-C during a write leaves nothing either.

Tests run as root here, where chmod does not stop a write: a refusal the kernel would make is simulated by
raising its OSError where tasb opens or writes the file.
"""

from __future__ import annotations

import errno
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

import faiss
import numpy as np
import pytest
from typer.testing import CliRunner

import tasb.data.writers
from tasb.cli import app
from tiny_collection import CORPUS, QUERIES, RUN_A, RUN_B

SCORES = "5.0\t1.0\tq1\tp2\tp1\n4.0\t2.0\tq1\tp2\tp3\n"

BM25 = ["bm25", "--corpus", "corpus.tsv", "--queries", "queries.tsv", "--out", "out/bm25.trec"]
FUSE = ["fuse", "run_a.trec", "run_b.trec", "--out", "out/fused.trec"]
ENSEMBLE = ["teacher", "ensemble", "scores.tsv", "scores.tsv", "--out", "out/ensembled.tsv"]
SEARCH = ["search", "--index", "index", "--queries", "queries.tsv", "--out", "out/dense.trec"]


@pytest.fixture(scope="module")
def indexes(tiny_bert_dir, tmp_path_factory) -> dict[str, Path]:
    """A flat and an HNSW index of the corpus, built once; each test damages its own copy."""
    folder = tmp_path_factory.mktemp("indexes")
    (folder / "corpus.tsv").write_text(CORPUS, encoding="utf-8")
    built = {}
    for kind in ("flat", "hnsw"):
        built[kind] = folder / kind
        argv = ["index", "--corpus", str(folder / "corpus.tsv"), "--model", str(tiny_bert_dir), "--out", str(built[kind]),
                "--no-bf16", "--type", kind]
        result = CliRunner().invoke(app, argv)
        assert result.exit_code == 0, result.output
    return built


@pytest.fixture
def workdir(tmp_path, monkeypatch, indexes) -> Path:
    """A folder of good inputs and an empty ``out/``, the working directory of the command."""
    for name, text in {"corpus.tsv": CORPUS, "queries.tsv": QUERIES, "run_a.trec": RUN_A, "run_b.trec": RUN_B, "scores.tsv": SCORES}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    shutil.copytree(indexes["flat"], tmp_path / "index")
    (tmp_path / "out").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _listing(folder: Path) -> set[str]:
    return {str(path.relative_to(folder)) for path in folder.rglob("*")}


def _refused(argv: list[str], folder: Path, before: set[str]) -> str:
    """Run ``argv``; assert it is refused cleanly, leaving ``folder`` as it was, and return the error line."""
    result = CliRunner().invoke(app, argv)
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), f"{type(result.exception).__name__}: {result.exception}"
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    assert _listing(folder) == before, "a refused command left output (or a temp file) behind"
    return errors[0]


def _refusing(make_temp, code: int):
    """``tempfile.mkstemp`` or ``mkdtemp`` as on a file system refusing with ``code``: the OSError names the temp
    file it tried, a name drawn as tempfile draws them."""

    def refuse(*args, **kwargs):
        made = make_temp(*args, **kwargs)
        name = made[1] if isinstance(made, tuple) else made
        if isinstance(made, tuple):
            os.close(made[0])
            os.unlink(name)
        else:
            os.rmdir(name)
        raise OSError(code, os.strerror(code), name)

    return refuse


@pytest.mark.parametrize("argv", [BM25, FUSE, ENSEMBLE, SEARCH], ids=["bm25", "fuse", "ensemble", "search"])
def test_output_into_a_read_only_directory(argv, workdir, monkeypatch):
    os.chmod(workdir / "out", 0o555)
    if os.geteuid() == 0:  # root writes through 0o555: the kernel's refusal for anyone else, simulated
        monkeypatch.setattr(tempfile, "mkstemp", _refusing(tempfile.mkstemp, errno.EACCES))
    try:
        message = _refused(argv, workdir, _listing(workdir))
    finally:
        os.chmod(workdir / "out", 0o755)
    assert message.startswith(f"error: {argv[-1]}: expected ")
    assert "permission denied" in message


@pytest.mark.parametrize("code, said", [(errno.EROFS, "read-only file system"), (errno.ENOSPC, "full file system"),
                                        (errno.EACCES, "permission denied")], ids=["erofs", "enospc", "eacces"])
@pytest.mark.slow
def test_a_file_system_refusing_the_output_file(code, said, workdir, monkeypatch):
    monkeypatch.setattr(tempfile, "mkstemp", _refusing(tempfile.mkstemp, code))
    message = _refused(BM25, workdir, _listing(workdir))
    # the file the user named, not the temp file written in its place
    assert message.startswith("error: out/bm25.trec: expected ")
    assert said in message


@pytest.mark.slow
def test_a_file_system_refusing_the_output_folder(workdir, monkeypatch, tiny_bert_dir):
    monkeypatch.setattr(tempfile, "mkdtemp", _refusing(tempfile.mkdtemp, errno.EROFS))
    argv = ["index", "--corpus", "corpus.tsv", "--model", str(tiny_bert_dir), "--out", "out/index", "--no-bf16"]
    message = _refused(argv, workdir, _listing(workdir))
    assert message.startswith("error: out/index: expected a writable place, got a read-only file system")


def test_a_disk_filling_up_during_the_write(workdir, monkeypatch):
    real = tasb.data.writers.ranked
    calls = []

    def ranked(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the first query's lines are in the temp file when the disk runs full
            assert any(name.endswith(".tmp") for name in os.listdir(workdir / "out"))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(*args, **kwargs)

    monkeypatch.setattr(tasb.data.writers, "ranked", ranked)
    message = _refused(BM25, workdir, _listing(workdir))
    # a failed write() names no file: the output being written is the one named
    assert message == "error: out/bm25.trec: expected space to write, got a full file system"


@pytest.mark.parametrize("argv", [BM25, FUSE, ENSEMBLE, SEARCH], ids=["bm25", "fuse", "ensemble", "search"])
@pytest.mark.slow
def test_out_naming_an_existing_folder(argv, workdir):
    folder = workdir / argv[-1]
    folder.mkdir()
    (folder / "kept.txt").write_text("mine\n", encoding="utf-8")
    message = _refused(argv, workdir, _listing(workdir))
    assert message.startswith(f"error: {argv[-1]}: expected ")
    assert "folder" in message
    assert (folder / "kept.txt").read_text(encoding="utf-8") == "mine\n"


def _set_model(index: Path, model: str) -> None:
    meta = json.loads((index / "meta.json").read_text(encoding="utf-8"))
    meta["model"] = model
    (index / "meta.json").write_text(json.dumps(meta), encoding="utf-8")


@pytest.mark.parametrize("model", ["/no/such/tiny-bert", "./gone/tiny-bert", "models/gone/tiny-bert"],
                         ids=["absolute", "dot-relative", "relative"])
def test_meta_json_naming_a_missing_model(model, workdir):
    _set_model(workdir / "index", model)
    message = _refused(SEARCH, workdir, _listing(workdir))
    assert message.startswith("error: index/meta.json: expected the model that built the index ")
    assert model in message
    assert "--model" in message


@pytest.mark.slow
def test_meta_json_naming_a_missing_model_is_overridden_by_model(workdir, tiny_bert_dir):
    _set_model(workdir / "index", "/no/such/tiny-bert")
    result = CliRunner().invoke(app, [*SEARCH, "--model", str(tiny_bert_dir)])
    assert result.exit_code == 0, result.output
    assert (workdir / "out" / "dense.trec").is_file()


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flat_instead(path: Path) -> None:
    flat = faiss.IndexFlatIP(32)
    flat.add(np.zeros((4, 32), dtype=np.float32))
    faiss.write_index(flat, str(path))


@pytest.mark.parametrize("damage, expected", [(_truncate, "a hnsw index faiss can read"), (_flat_instead, "a faiss hnsw index")],
                         ids=["truncated", "another-index-type"])
@pytest.mark.parametrize("checksums", [True, False], ids=["checksummed", "no-checksums"])
@pytest.mark.slow
def test_a_corrupt_faiss_index(damage, expected, checksums, workdir, indexes):
    shutil.rmtree(workdir / "index")
    shutil.copytree(indexes["hnsw"], workdir / "index")
    damage(workdir / "index" / "faiss.index")
    if not checksums:  # an index written before tasb recorded checksums: only reading the file finds the damage
        meta = json.loads((workdir / "index" / "meta.json").read_text(encoding="utf-8"))
        del meta["checksums"]
        (workdir / "index" / "meta.json").write_text(json.dumps(meta), encoding="utf-8")
    message = _refused(SEARCH, workdir, _listing(workdir))
    if checksums:
        assert message.startswith("error: index: expected an intact index folder")
        assert "faiss.index" in message
    else:
        assert message.startswith(f"error: index/faiss.index: expected {expected}")


@pytest.fixture
def remote_code_model(tiny_bert_dir, tmp_path) -> tuple[Path, Path]:
    """A model folder whose config asks for code of its own; running that code would leave a marker file."""
    folder = tmp_path / "remote-model"
    shutil.copytree(tiny_bert_dir, folder)
    marker = tmp_path / "code-ran"
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    config.update(model_type="custom-bert", auto_map={"AutoConfig": "custom.CustomConfig", "AutoModel": "custom.CustomModel",
                                                       "AutoModelForSequenceClassification": "custom.CustomModel"})
    (folder / "config.json").write_text(json.dumps(config), encoding="utf-8")
    (folder / "custom.py").write_text(f"open({str(marker)!r}, 'w').close()\n", encoding="utf-8")
    return folder, marker


@pytest.mark.parametrize("command", ["index", "rerank", "rerank-colbert"])
def test_a_model_asking_to_run_its_own_code(command, remote_code_model, workdir):
    folder, marker = remote_code_model
    argv = {
        "index": ["index", "--corpus", "corpus.tsv", "--model", str(folder), "--out", "out/index", "--no-bf16"],
        "rerank": ["rerank", "--scorer", str(folder), "--run", "run_a.trec", "--corpus", "corpus.tsv", "--queries", "queries.tsv",
                   "--out", "out/reranked.trec", "--no-bf16"],
        "rerank-colbert": ["rerank", "--scorer", f"colbert:{folder}", "--run", "run_a.trec", "--corpus", "corpus.tsv",
                           "--queries", "queries.tsv", "--out", "out/reranked.trec", "--no-bf16"],
    }[command]
    message = _refused(argv, workdir, _listing(workdir))
    assert message.startswith(f"error: {folder}: expected a model that loads without running code of its own")
    assert not marker.exists()


# a child process: a signal that is not handled would kill the test run itself
SIGNALLED_WRITE = """
import os, signal, sys
import tasb.data.writers as writers
from tasb.cli import app

# a shell starts background jobs with SIGINT ignored, and children inherit that: restore Ctrl-C as a terminal has it
signal.signal(signal.SIGINT, signal.default_int_handler)

real = writers.ranked
calls = []

def ranked(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:  # the first query's lines are in the temp file
        os.kill(os.getpid(), getattr(signal, sys.argv[1]))
    return real(*args, **kwargs)

writers.ranked = ranked
app(sys.argv[2:], prog_name="tasb")
"""


# a killed process's status for SIGTERM; click ends on Ctrl-C with 130 (older releases: 1)
@pytest.mark.parametrize("signal_name, statuses", [("SIGTERM", {128 + signal.SIGTERM}), ("SIGINT", {130, 1})])
@pytest.mark.slow
def test_a_signal_during_the_write_leaves_nothing(signal_name, statuses, workdir):
    before = _listing(workdir)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    done = subprocess.run([sys.executable, "-c", SIGNALLED_WRITE, signal_name, *BM25], cwd=workdir, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode in statuses, done.stderr
    assert "Traceback" not in done.stderr
    assert _listing(workdir) == before, "an interrupted write left output (or a temp file) behind"

