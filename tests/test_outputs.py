"""What tasb may write over (issue 17, part 1), driven through the CLI: each reproduction of the issue, where tasb
destroyed what a user had, is now refused with exit status 2 and one line, and what the user had is left as it was.

Symlinks are written through; FIFOs, device nodes, folders where a file goes, the current folder and folders
holding files tasb did not write are refused; earlier runs are replaced only as the command documents
(an index by an index, a quickstart by a quickstart once its inputs have loaded); and a folder another
process is writing to is refused: the tests hold its lock themselves.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tasb.cli import app
from tasb.apps.quickstart import QuickstartConfig
from tasb.config import save_config
from tasb.errors import InputError
from tasb.outputs import LOCK, check_folder, hold_lock, replacement_lock
from tiny_collection import CORPUS, QRELS, QUERIES

RUN = "q1 Q0 p2 1 3.0 a\nq1 Q0 p1 2 1.0 a\nq1 Q0 p3 3 0.5 a\nq2 Q0 p1 1 2.0 a\nq2 Q0 p3 2 0.5 a\nq2 Q0 p4 3 0.1 a\n"
SCORES = "5.0\t1.0\tq1\tp2\tp1\n4.0\t2.0\tq1\tp2\tp3\n6.0\t0.5\tq2\tp1\tp3\n"
TRAIN_YAML = """\
output_dir: {out}
data:
  corpus: corpus.tsv
  queries: queries.tsv
teacher_scores: scores.tsv
student:
  model: {model}
steps: 1
batch_size: 2
sampler_process: false
bf16: false
"""

BM25 = ["bm25", "--corpus", "corpus.tsv", "--queries", "queries.tsv", "--k", "3"]
DATA = ["--corpus", "corpus.tsv", "--queries", "queries.tsv", "--qrels", "qrels.txt", "--run", "run.trec"]


@pytest.fixture
def workdir(tmp_path, monkeypatch) -> Path:
    for name, text in {"corpus.tsv": CORPUS, "queries.tsv": QUERIES, "qrels.txt": QRELS, "run.trec": RUN, "scores.tsv": SCORES}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.fixture(scope="module")
def good_index(tiny_bert_dir, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("good-index")
    (folder / "corpus.tsv").write_text(CORPUS, encoding="utf-8")
    out = folder / "index"
    result = CliRunner().invoke(app, ["index", "--corpus", str(folder / "corpus.tsv"), "--model", str(tiny_bert_dir), "--out", str(out), "--no-bf16"])
    assert result.exit_code == 0, result.output
    return out


def _refused(argv: list[str], *expected: str) -> str:
    """Run ``argv``: exit status 2, no traceback, one error line holding each of ``expected``; returns that line."""
    result = CliRunner().invoke(app, [str(arg) for arg in argv])
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit), f"{type(result.exception).__name__}: {result.exception}"
    assert result.exit_code == 2, result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1, result.output
    for part in expected:
        assert part in errors[0]
    return errors[0]


def _ran(argv: list[str]) -> None:
    result = CliRunner().invoke(app, [str(arg) for arg in argv])
    assert result.exit_code == 0, result.output


def _snapshot(folder: Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` with its bytes (None for a folder): what a refused command must leave alone."""
    return {str(path.relative_to(folder)): None if path.is_dir() else path.read_bytes() for path in sorted(folder.rglob("*"))}


# 1. --out is written through a symlink, and never replaces a FIFO, a device node or a folder


def test_out_through_a_symlink_writes_its_target_and_keeps_the_link(workdir):
    (workdir / "real.trec").write_text("old\n", encoding="utf-8")
    (workdir / "link.trec").symlink_to("real.trec")
    _ran([*BM25, "--out", "link.trec"])
    assert (workdir / "link.trec").is_symlink()
    assert (workdir / "real.trec").read_text(encoding="utf-8").startswith("q1 Q0 ")


def test_out_through_a_dangling_symlink_creates_its_target(workdir):
    (workdir / "runs").mkdir()
    (workdir / "link.trec").symlink_to("runs/new.trec")
    _ran([*BM25, "--out", "link.trec"])
    assert (workdir / "link.trec").is_symlink() and (workdir / "runs" / "new.trec").is_file()


def test_out_naming_a_fifo_is_refused_and_kept(workdir):
    os.mkfifo(workdir / "pipe")
    _refused([*BM25, "--out", "pipe"], "pipe: expected a file, got a FIFO")
    assert stat.S_ISFIFO(os.stat(workdir / "pipe").st_mode)


@pytest.mark.parametrize("device", ["/dev/null", "/dev/stdout"])
def test_out_naming_a_system_node_is_refused_and_kept(workdir, device):
    before = os.stat(device, follow_symlinks=False)
    _refused([*BM25, "--out", device], f"{device}: expected a file, got ")
    after = os.stat(device, follow_symlinks=False)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)


def test_out_naming_a_folder_is_refused_and_kept(workdir):
    (workdir / "mine").mkdir()
    (workdir / "mine" / "notes.txt").write_text("mine\n", encoding="utf-8")
    _refused([*BM25, "--out", "mine"], "mine: expected a file, got an existing folder")
    assert (workdir / "mine" / "notes.txt").read_text(encoding="utf-8") == "mine\n"


def test_out_naming_one_of_the_commands_own_inputs_is_refused_and_kept(workdir):
    (workdir / "other.trec").write_text(RUN, encoding="utf-8")
    _refused(["fuse", "run.trec", "other.trec", "--out", "run.trec"], "--out", "run.trec", "not RUNS")
    (workdir / "link.trec").symlink_to("other.trec")
    _refused(["fuse", "run.trec", "other.trec", "--out", "link.trec"], "not RUNS")
    _refused([*BM25, "--out", "corpus.tsv"], "not --corpus")
    assert (workdir / "run.trec").read_text(encoding="utf-8") == RUN
    assert (workdir / "other.trec").read_text(encoding="utf-8") == RUN
    assert (workdir / "corpus.tsv").read_text(encoding="utf-8") == CORPUS


def test_out_naming_a_file_of_a_beir_folder_it_reads_is_refused_and_kept(workdir):
    beir = workdir / "beir"
    (beir / "qrels").mkdir(parents=True)
    (beir / "corpus.jsonl").write_text('{"_id": "p1", "title": "", "text": "cell growth"}\n', encoding="utf-8")
    (beir / "queries.jsonl").write_text('{"_id": "q1", "text": "cell"}\n', encoding="utf-8")
    (beir / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\n", encoding="utf-8")
    before = _snapshot(beir)
    for target in ("beir/qrels/test.tsv", "beir/queries.jsonl", "beir/corpus.jsonl"):
        _refused(["bm25", "--data", "beir", "--out", target], "--out", "a file outside the collection's own files, not one of --data's")
    assert _snapshot(beir) == before
    # a run file of the user's own kept in the collection's folder is theirs to rewrite
    (beir / "bm25.trec").write_text("old\n", encoding="utf-8")
    _ran(["bm25", "--data", "beir", "--out", "beir/bm25.trec", "--k", "1"])
    assert (beir / "bm25.trec").read_text(encoding="utf-8").startswith("q1 Q0 p1 1 ")


# 2. an index replaces an index, never a folder that merely holds a meta.json


def _victim(workdir: Path) -> Path:
    victim = workdir / "victim"
    (victim / "src").mkdir(parents=True)
    (victim / "meta.json").write_text("{}\n", encoding="utf-8")
    (victim / "thesis.tex").write_text("x\n", encoding="utf-8")
    return victim


@pytest.mark.slow
def test_index_from_an_index_does_not_replace_a_folder_holding_a_meta_json(workdir, good_index):
    victim = _victim(workdir)
    before = _snapshot(victim)
    _refused(["index", "--from", good_index, "--out", "victim"], "victim: expected a new or empty folder", "thesis.tex")
    assert _snapshot(victim) == before


def test_index_of_a_corpus_does_not_replace_a_folder_holding_a_meta_json(workdir, tiny_bert_dir):
    victim = _victim(workdir)
    before = _snapshot(victim)
    _refused(["index", "--corpus", "corpus.tsv", "--model", tiny_bert_dir, "--out", "victim", "--no-bf16"], "victim: expected")
    assert _snapshot(victim) == before


@pytest.mark.slow
def test_index_replaces_an_earlier_index_and_a_symlink_to_one_stays_a_link(workdir, good_index, tiny_bert_dir):
    (workdir / "idx").symlink_to(good_index.parent)
    _ran(["index", "--corpus", "corpus.tsv", "--model", tiny_bert_dir, "--out", "idx/index", "--no-bf16", "--batch-size", "2"])
    _ran(["index", "--from", "idx/index", "--out", "hnsw", "--type", "hnsw"])
    _ran(["index", "--from", "idx/index", "--out", "hnsw", "--type", "hnsw"])
    assert json.loads((workdir / "hnsw" / "meta.json").read_text(encoding="utf-8"))["index_type"] == "hnsw"
    assert not [name for name in os.listdir(workdir) if name.endswith(".tasb-lock")]


def test_an_index_never_replaces_a_model_folder(workdir, good_index, tiny_bert_dir):
    model = workdir / "model"
    model.mkdir()
    (model / "tasb.json").write_text('{"architecture": "BERT_DOT"}\n', encoding="utf-8")
    _refused(["index", "--from", good_index, "--out", "model"], "model: expected a new or empty folder, or an earlier index")
    assert (model / "tasb.json").is_file()


def test_no_output_folder_is_the_current_folder(workdir, good_index):
    before = _snapshot(workdir)
    _refused(["index", "--from", good_index, "--out", "."], ".: expected an output folder of its own")
    _refused(["index", "--from", good_index, "--out", ".."], "..: expected an output folder of its own")
    assert _snapshot(workdir) == before


# 3. options are checked before a good index is touched


@pytest.mark.parametrize("batch_size", ["-1", "0"])
def test_a_bad_batch_size_leaves_a_good_index_as_it_was(workdir, good_index, tiny_bert_dir, batch_size):
    index = workdir / "index"
    _ran(["index", "--from", good_index, "--out", "index"])
    before = _snapshot(index)
    _refused(["index", "--corpus", "corpus.tsv", "--model", tiny_bert_dir, "--batch-size", batch_size, "--out", "index"], "--batch-size")
    assert _snapshot(index) == before
    _ran(["index", "verify", "index"])


# 4. a quickstart runs over an earlier one only once its inputs have loaded


def _earlier_quickstart(folder: Path) -> Path:
    save_config(QuickstartConfig(output_dir=str(folder)), folder / "config.yaml")
    (folder / "student" / "model").mkdir(parents=True)
    (folder / "student" / "model" / "tasb.json").write_text('{"architecture": "BERT_DOT"}\n', encoding="utf-8")
    (folder / "results.md").write_text("# earlier\n", encoding="utf-8")
    (folder / "DONE").touch()
    return folder


def test_quickstart_with_missing_data_leaves_an_earlier_run_as_it_was(workdir):
    earlier = _earlier_quickstart(workdir / "earlier")
    before = _snapshot(earlier)
    _refused(["quickstart", "--data", "no_such_folder", "--set", "output_dir=earlier"], "no_such_folder")
    assert _snapshot(earlier) == before


def test_quickstart_refuses_a_folder_it_did_not_write(workdir):
    mine = workdir / "mine"
    mine.mkdir()
    (mine / "config.yaml").write_text("my: settings\n", encoding="utf-8")
    _refused(["quickstart", "--data", "no_such_folder", "--set", "output_dir=mine"], "mine: expected a new or empty folder", "config.yaml")
    assert (mine / "config.yaml").read_text(encoding="utf-8") == "my: settings\n"


def test_a_refused_quickstart_leaves_no_folder_behind(workdir):
    _refused(["quickstart", "--data", "no_such_folder", "--set", "output_dir=runs/new"], "no_such_folder")
    assert not (workdir / "runs").exists()


# 5. teachers refuse an earlier teacher as `tasb train` refuses an earlier run; nothing writes into the current folder


def _earlier_teacher(folder: Path) -> Path:
    (folder / "model").mkdir(parents=True)
    (folder / "model" / "tasb.json").write_text('{"architecture": "BERT_CAT"}\n', encoding="utf-8")
    (folder / "teacher_log.jsonl").write_text('{"step": 1, "loss": 0.5}\n', encoding="utf-8")
    return folder


@pytest.mark.parametrize("command", ["train", "train-colbert"])
def test_teacher_training_refuses_an_earlier_teacher(workdir, tiny_bert_dir, command):
    earlier = _earlier_teacher(workdir / "teacher")
    before = _snapshot(earlier)
    argv = ["teacher", command, *DATA, "--out", "teacher", "--set", f"model={tiny_bert_dir}", "--set", "steps=1"]
    _refused(argv, "teacher: expected a new or empty folder for the teacher", "model")
    assert _snapshot(earlier) == before


def test_teacher_training_refuses_a_folder_of_other_files(workdir, tiny_bert_dir):
    (workdir / "mine").mkdir()
    (workdir / "mine" / "notes.txt").write_text("mine\n", encoding="utf-8")
    _refused(["teacher", "train", *DATA, "--out", "mine", "--set", f"model={tiny_bert_dir}"], "mine: expected a new or empty folder", "notes.txt")


def _train_yaml(workdir: Path, out: str, model: Path) -> Path:
    path = workdir / "train.yaml"
    path.write_text(TRAIN_YAML.format(out=out, model=model), encoding="utf-8")
    return path


def test_train_never_writes_into_the_current_folder(workdir, tiny_bert_dir):
    (workdir / "config.yaml").write_text("mine: true\n", encoding="utf-8")
    (workdir / "metrics.json").write_text('{"mine": true}\n', encoding="utf-8")
    _train_yaml(workdir, "runs/a", tiny_bert_dir)
    before = _snapshot(workdir)
    _refused(["train", "train.yaml", "--set", "output_dir=."], ".: expected an output folder of its own")
    _refused(["train", "train.yaml", "--set", "output_dir=.", "--resume"], ".: expected an output folder of its own")
    assert _snapshot(workdir) == before


def test_train_refuses_a_folder_of_other_files_even_to_resume(workdir, tiny_bert_dir):
    (workdir / "project").mkdir()
    (workdir / "project" / "config.yaml").write_text("mine: true\n", encoding="utf-8")
    _train_yaml(workdir, "project", tiny_bert_dir)
    _refused(["train", "train.yaml", "--resume"], "project: expected a new or empty folder, or an earlier training run", "config.yaml")
    assert (workdir / "project" / "config.yaml").read_text(encoding="utf-8") == "mine: true\n"


@pytest.mark.slow
def test_train_resumes_its_own_run_and_leaves_no_lock_behind(workdir, tiny_bert_dir):
    _train_yaml(workdir, "runs/a", tiny_bert_dir)
    _ran(["train", "train.yaml"])
    _refused(["train", "train.yaml"], "runs/a: expected a new or empty run folder")
    _ran(["train", "train.yaml", "--resume", "--set", "steps=2"])
    assert (workdir / "runs" / "a" / "DONE").is_file()
    assert not (workdir / "runs" / "a" / LOCK).exists()


# 6. a folder another process is writing to is refused, not written at the same time


@pytest.mark.slow
def test_train_refuses_a_run_folder_another_process_holds(workdir, tiny_bert_dir):
    _train_yaml(workdir, "runs/a", tiny_bert_dir)
    _ran(["train", "train.yaml"])
    with hold_lock(workdir / "runs" / "a"):
        before = _snapshot(workdir / "runs" / "a")
        _refused(["train", "train.yaml", "--resume", "--set", "steps=2"], "runs/a: expected a folder no other tasb command is writing to", "locked by process")
        assert _snapshot(workdir / "runs" / "a") == before
    # a lock file a killed process left behind holds no lock
    (workdir / "runs" / "a" / LOCK).write_text("12345\n", encoding="utf-8")
    _ran(["train", "train.yaml", "--resume", "--set", "steps=2"])


def test_teacher_training_refuses_a_folder_another_process_holds(workdir, tiny_bert_dir):
    (workdir / "teacher").mkdir()
    with hold_lock(workdir / "teacher"):
        _refused(["teacher", "train", *DATA, "--out", "teacher", "--set", f"model={tiny_bert_dir}", "--set", "steps=1"], "locked by")
    assert os.listdir(workdir / "teacher") == []


def test_quickstart_and_experiment_refuse_a_folder_another_process_holds(workdir):
    earlier = _earlier_quickstart(workdir / "earlier")
    with hold_lock(earlier):
        _refused(["quickstart", "--data", "no_such_folder", "--set", "output_dir=earlier"], "earlier: expected a folder no other tasb")
    (workdir / "experiment.yaml").write_text("output_dir: grid\ntrain:\n  teacher_scores: scores.tsv\n", encoding="utf-8")
    (workdir / "grid").mkdir()
    with hold_lock(workdir / "grid"):
        _refused(["experiment", "experiment.yaml"], "grid: expected a folder no other tasb")


def test_index_refuses_an_output_another_process_is_writing(workdir, good_index):
    with replacement_lock(workdir / "index"):
        _refused(["index", "--from", good_index, "--out", "index"], "index: expected a folder no other tasb command is writing to")
    assert not (workdir / "index").exists()


def test_a_folder_holding_only_what_a_killed_build_left_counts_as_empty_and_a_users_dot_files_do_not(tmp_path):
    run = tmp_path / "run"
    (run / ".index.tasb-old").mkdir(parents=True)
    (run / ".index.tasb-lock").touch()
    (run / ".model.abcd1234.tmp").touch()
    assert check_folder(run, None) == run

    (run / ".index.old").mkdir()
    with pytest.raises(InputError, match="a folder holding other files"):
        check_folder(run, None)
