"""One CLI vocabulary (issue 18, item 3): the option names docs/cli.md lists, the same on every command.

Every command takes --config FILE and --set key=value and shows an example in its help; every command that runs a
model takes --device; `tasb config show COMMAND` prints the config --config reads back; renamed options still work
under their old names, saying which name to use; the docs show only current names; library code names settings,
never options or commands.
"""

from __future__ import annotations

import ast
import json
import re
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

import tasb.apps.ann_recall
import tasb.apps.cluster
import tasb.apps.fuse
import tasb.apps.index
import tasb.apps.rerank
import tasb.apps.serve
import tasb.apps.teacher_eval
import tasb.apps.teacher_score
from tasb.apps.show import command_config
from tasb.cli import app
from tasb.config import load_config
from tasb.data import read_qrels, read_run
from tasb.evaluation import evaluate, evaluate_per_query
from tiny_collection import CORPUS, QRELS, QUERIES, RUN_A

ROOT = Path(__file__).resolve().parents[1]
runner = CliRunner()

# the commands that load a model (to encode, score or train with)
RUN_MODELS = {
    "index", "search", "ann-recall", "rerank", "teacher eval", "teacher score", "teacher train", "teacher train-colbert", "train",
    "cluster", "quickstart", "experiment", "pipelines", "serve", "bench latency",
}


def _commands() -> dict[str, object]:
    """Every command by its path ("teacher score"), the `tasb index` group's own command included."""
    found = {}

    def walk(node, path):
        if getattr(node.callback, "spec", None) is not None:
            found[" ".join(path)] = node
        for name, sub in getattr(node, "commands", {}).items():
            walk(sub, [*path, name])

    walk(typer.main.get_command(app), [])
    return found


COMMANDS = _commands()


def _options(command) -> set[str]:
    return {name for param in command.params for name in (*param.opts, *param.secondary_opts)}


def test_every_command_takes_config_and_set_and_shows_an_example():
    assert len(COMMANDS) == 24
    for path, command in COMMANDS.items():
        assert {"--config", "--set", "-h"} <= _options(command) | {"-h"}, path
        shown = runner.invoke(app, [*path.split(), "-h"])
        assert shown.exit_code == 0 and "Example" in shown.output and f"tasb {path}" in shown.output, path


def test_every_command_that_runs_a_model_takes_device():
    assert {path for path, command in COMMANDS.items() if "--device" in _options(command)} == RUN_MODELS


@pytest.mark.parametrize("path", sorted(COMMANDS))
def test_config_show_round_trips_through_config(path, tmp_path):
    shown = runner.invoke(app, ["config", "show", *path.split()])
    assert shown.exit_code == 0, shown.output
    (tmp_path / "defaults.yaml").write_text(shown.stdout, encoding="utf-8")
    config = command_config(typer.main.get_command(app), path.split())
    assert load_config(config, tmp_path / "defaults.yaml") == config()


def test_config_show_names_what_it_does_not_know():
    refused = runner.invoke(app, ["config", "show", "teacher", "scor"])
    assert refused.exit_code == 2 and "error: COMMAND: expected a command of tasb teacher: ensemble, eval" in refused.stderr


@pytest.fixture
def files(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, text in {"corpus.tsv": CORPUS, "queries.tsv": QUERIES, "qrels.txt": QRELS, "run.trec": RUN_A}.items():
        Path(name).write_text(text, encoding="utf-8")
    return tmp_path


class Captured(Exception):
    """Raised instead of running a command: carries the config it would have run with."""


def _settings(monkeypatch, module, run: str, argv: list[str]):
    """The config ``argv`` gives the command whose run function is ``module.run``, and what it said on stderr."""

    def capture(config, *args, **kwargs):
        raise Captured(config)

    monkeypatch.setattr(module, run, capture)
    result = runner.invoke(app, argv)
    assert isinstance(result.exception, Captured), result.output
    return result.exception.args[0], result.stderr


RENAMED = [
    # module, run function, the command with what it needs, new option, old option, value, the key it sets
    (tasb.apps.rerank, "run_rerank", ["rerank", "--run", "run.trec"], "--scorer", "--model", "bm25", "scorers"),
    (tasb.apps.rerank, "run_rerank", ["rerank", "--run", "run.trec", "--scorer", "bm25"], "--rerank-depth", "--depth", "7", "rerank_depth"),
    (tasb.apps.teacher_eval, "run_teacher_eval", ["teacher", "eval", "--run", "run.trec"], "--scorer", "--teacher", "bm25", "scorers"),
    (tasb.apps.teacher_eval, "run_teacher_eval", ["teacher", "eval", "--run", "run.trec", "--scorer", "bm25"], "--rerank-depth", "--depth", "7",
     "rerank_depth"),
    (tasb.apps.teacher_score, "run_teacher_score", ["teacher", "score", "--run", "run.trec"], "--scorer", "--teacher", "bm25", "scorers"),
    (tasb.apps.teacher_score, "run_teacher_score", ["teacher", "score", "--run", "run.trec", "--scorer", "bm25"], "--negatives-depth",
     "--depth", "7", "negatives_depth"),
    (tasb.apps.serve, "run_serve", ["serve", "--index", "idx", "--corpus", "corpus.tsv"], "--scorer", "--rerank", "bm25", "pipeline.scorers"),
    (tasb.apps.serve, "run_serve", ["serve", "--index", "idx", "--corpus", "corpus.tsv"], "--rerank-depth", "--depth", "7",
     "pipeline.rerank_depth"),
    (tasb.apps.fuse, "run_fuse", ["fuse", "run.trec", "run.trec"], "--k", "--depth", "7", "k"),
    (tasb.apps.cluster, "run_clustering", ["cluster", "--queries", "queries.tsv"], "--num-clusters", "--k", "7", "num_clusters"),
    (tasb.apps.ann_recall, "run_ann_recall", ["ann-recall", "--index", "idx"], "--recall-depth", "--k", "7", "recall_depth"),
]


def _value(config, key: str):
    for part in key.split("."):
        config = getattr(config, part)
    return config


@pytest.mark.parametrize("module, run, argv, new, old, value, key", RENAMED, ids=[f"{case[2][0]} {case[3]}" for case in RENAMED])
def test_a_renamed_option_works_and_its_old_name_still_does_saying_which_to_use(files, monkeypatch, module, run, argv, new, old, value, key):
    config, said = _settings(monkeypatch, module, run, [*argv, new, value])
    assert str(_value(config, key)).strip("[']") == value and "is now" not in said
    as_before, said = _settings(monkeypatch, module, run, [*argv, f"{old}={value}"])
    assert as_before == config
    assert said.count(f"{old} is now {new}") == 1


def test_an_old_name_given_twice_is_said_once(files, monkeypatch):
    config, said = _settings(monkeypatch, tasb.apps.teacher_eval, "run_teacher_eval",
                             ["teacher", "eval", "--run", "run.trec", "--teacher", "bm25", "--teacher", "dot:x"])
    assert config.scorers == ["bm25", "dot:x"] and said.count("--teacher is now --scorer") == 1


def test_an_old_set_key_of_the_index_moves_into_its_ann_section(files, monkeypatch):
    argv = ["index", "--corpus", "corpus.tsv", "--out", "idx", "--type", "hnsw"]
    config, said = _settings(monkeypatch, tasb.apps.index, "run_index", [*argv, "--set", "hnsw_m=16"])
    assert config.ann.type == "hnsw" and config.ann.hnsw_m == 16 and "hnsw_m is now ann.hnsw_m" in said
    assert _settings(monkeypatch, tasb.apps.index, "run_index", [*argv, "--set", "ann.hnsw_m=16"]) == (config, "")


def test_options_go_over_set_and_set_over_the_config_file(files, monkeypatch):
    Path("fuse.yaml").write_text("runs: [run.trec, run.trec]\nk: 5\nmethod: rrf\n", encoding="utf-8")
    fuse = ["fuse", "--config", "fuse.yaml"]
    assert _settings(monkeypatch, tasb.apps.fuse, "run_fuse", fuse)[0].k == 5
    assert _settings(monkeypatch, tasb.apps.fuse, "run_fuse", [*fuse, "--set", "k=6"])[0].k == 6
    config, _ = _settings(monkeypatch, tasb.apps.fuse, "run_fuse", [*fuse, "--set", "k=6", "--k", "7"])
    assert (config.k, config.method, config.runs) == (7, "rrf", ["run.trec", "run.trec"])


def test_a_config_file_stands_in_for_required_options_and_its_errors_name_its_line(files):
    Path("wide.tsv").write_text("q1\tcat dense topic balanced\n", encoding="utf-8")  # a word of every passage
    Path("bm25.yaml").write_text("out: from-file.trec\ndata:\n  corpus: corpus.tsv\n  queries: wide.tsv\nk: 0\n", encoding="utf-8")
    refused = runner.invoke(app, ["bm25", "--config", "bm25.yaml"])
    assert refused.exit_code == 2 and "error: bm25.yaml:5: expected k to be at least 1, got '0'" in refused.stderr
    ran = runner.invoke(app, ["bm25", "--config", "bm25.yaml", "--set", "k=2"])
    assert ran.exit_code == 0, ran.output
    assert [len(ranking) for ranking in read_run("from-file.trec").values()] == [2]


def test_a_missing_required_setting_names_its_option(files):
    refused = runner.invoke(app, ["rerank", "--scorer", "bm25", "--corpus", "corpus.tsv", "--queries", "queries.tsv"])
    assert refused.exit_code == 2 and refused.stderr.startswith("error: --run: expected a TREC run")


@pytest.mark.parametrize("source", ["qrels", "data"])
def test_evaluate_reads_qrels_or_a_dataset_and_prints_what_evaluate_computes(files, source):
    if source == "data":
        (files / "beir" / "qrels").mkdir(parents=True)
        (files / "beir" / "qrels" / "dev.tsv").write_text("query-id\tcorpus-id\tscore\nq1\tp2\t1\nq2\tp1\t1\n", encoding="utf-8")
        judged = ["--data", "beir", "--split", "dev"]
    else:
        judged = ["--qrels", "qrels.txt"]
    measures = ["nDCG@10", "AP", "P@1", "RR(rel=2)@10"]
    argv = ["evaluate", "--run", "run.trec", *judged, *(item for m in measures for item in ("--measure", m))]
    run, qrels = read_run("run.trec"), read_qrels("qrels.txt")

    means = json.loads(runner.invoke(app, [*argv, "--json"]).stdout)
    assert means == evaluate(run, qrels, measures=measures)
    both = json.loads(runner.invoke(app, [*argv, "--json", "--per-query"]).stdout)
    assert both == {"mean": means, "per_query": evaluate_per_query(run, qrels, measures=measures)}
    lines = runner.invoke(app, [*argv, "--per-query"]).stdout.splitlines()
    expected = [f"{m}\t{q}\t{v:.4f}" for m, values in both["per_query"].items() for q, v in sorted(values.items())]
    assert lines == expected + [f"{m}\tall\t{v:.4f}" for m, v in means.items()]


def test_evaluate_refuses_an_unknown_measure_by_its_option(files):
    refused = runner.invoke(app, ["evaluate", "--run", "run.trec", "--qrels", "qrels.txt", "--measure", "nDCG@10", "--measure", "Bogus@3"])
    assert refused.exit_code == 2
    assert refused.stderr.startswith("error: --measure: expected ir-measures names such as nDCG@10") and "'Bogus@3'" in refused.stderr


def _doc_command_lines() -> list[tuple[str, str]]:
    """``(file, line)`` of every `tasb ...` command line the docs show, in code blocks and inline code."""
    found = []
    for path in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        text = re.sub(r"\\\n\s*", " ", path.read_text(encoding="utf-8"))  # continued lines as one
        blocks = re.findall(r"^```[^\n]*\n(.*?)^```", text, re.MULTILINE | re.DOTALL) + re.findall(r"`([^`\n]+)`", text)
        found += [(path.name, line) for block in blocks for line in block.splitlines() if re.search(r"(^|[\s(])tasb\s+-*[a-z]", line)]
    return found


def test_the_docs_show_every_command_with_current_option_names():
    wrong = []
    for name, line in _doc_command_lines():
        if " is now " in line:
            continue  # the warning an old name gets, quoted
        for match in re.finditer(r"(?:^|[\s(])tasb((?:\s+-[-\w]+)*)\s+([a-z][-\w]*(?:\s+[a-z][-\w]*)?)([^|;#&)]*)", line):
            words = match[2].split()
            path = " ".join(words) if " ".join(words) in COMMANDS else words[0]
            command = COMMANDS.get(path)
            if command is None:
                continue  # a group named alone (tasb teacher), or prose
            flags = {token.split("=")[0] for token in (match[2] + match[3]).split() if re.match(r"--[a-z]", token)}
            wrong += [f"{name}: tasb {path} {flag}" for flag in sorted(flags - _options(command))]
    assert _doc_command_lines() and not wrong, "\n".join(wrong)


def _library_messages() -> list[tuple[str, str]]:
    """``(file, text)`` of the strings library code (all but the CLI layer) puts into an InputError."""
    found = []
    for path in sorted((ROOT / "src" / "tasb").rglob("*.py")):
        relative = path.relative_to(ROOT / "src" / "tasb").as_posix()
        # the CLI layer names its options; the loader's --set is the option its overrides come from
        if relative.startswith("apps/") or relative in ("cli.py", "config/loader.py"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "InputError":
                found += [(relative, text.value) for arg in node.args for text in ast.walk(arg) if isinstance(text, ast.Constant)
                          and isinstance(text.value, str)]
    return found


def test_library_errors_name_settings_not_options_or_commands():
    assert _library_messages()
    named = [f"{where}: {text}" for where, text in _library_messages() if re.search(r"(^|\s)--[a-z]|`tasb |\btasb [a-z]+ --", text)]
    assert not named, "\n".join(named)
