"""The Python API: every name of ``tasb.__all__`` resolves, ``import tasb`` loads no heavy library, and the
example of docs/api.md runs as written on a tiny SciFact-like collection and a tiny random BERT."""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import tasb

ROOT = Path(__file__).resolve().parents[1]
API_PAGE = ROOT / "docs" / "api.md"
SCIFACT_CONFIG = ROOT / "configs" / "scifact.yaml"

TOPICS = ["cat", "river", "engine", "violin", "comet", "bread", "glacier", "tennis", "copper", "orchid", "falcon", "tulip"]
FILLER = ["the", "a", "of", "and", "with", "under", "over", "near", "some", "many", "old", "new", "study", "effect"]


def test_every_exported_name_resolves():
    missing = [name for name in tasb.__all__ if getattr(tasb, name, None) is None]
    assert not missing
    assert len(set(tasb.__all__)) == len(tasb.__all__)
    assert set(tasb.__all__) <= set(dir(tasb))
    assert re.match(r"^\d+\.\d+", tasb.__version__)
    with pytest.raises(AttributeError, match="no attribute 'no_such_name'"):
        tasb.no_such_name  # noqa: B018


def test_exported_names_are_their_homes_objects():
    from tasb.models.student import BertDot
    from tasb.retrieval.index import search
    from tasb.training.run import train_from_config

    assert tasb.BertDot is BertDot and tasb.search is search and tasb.train is train_from_config


def test_import_tasb_loads_no_heavy_library():
    code = "import sys, tasb; print(sorted(m for m in ('torch', 'transformers', 'faiss', 'tasb.config') if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert result.stdout.strip() == "[]"


def _code_blocks(page: Path) -> str:
    blocks = re.findall(r"^```python\n(.*?)^```$", page.read_text(encoding="utf-8"), re.MULTILINE | re.DOTALL)
    assert blocks, f"{page} has no python code block"
    return "\n".join(blocks)


def _write_beir(folder: Path) -> Path:
    """SciFact-like: 24 claims (16 train, 8 test), each judged against its own passage, 72 passages with titles."""
    rng = random.Random(0)
    corpus, queries, qrels = [], [], {"train": [], "test": []}
    for q in range(24):
        topic = TOPICS[q % len(TOPICS)]
        queries.append({"_id": str(q), "text": f"the {topic} claim number {q} holds"})
        corpus.append({"_id": f"d{q}", "title": f"On the {topic}", "text": f"the {topic} claim number {q} " + " ".join(rng.choices(FILLER, k=8))})
        for k in (1, 2):
            other = TOPICS[(q + k) % len(TOPICS)]
            corpus.append({"_id": f"d{q}-{k}", "title": "", "text": " ".join(rng.choices(FILLER, k=10)) + f" {other} {topic}"})
        qrels["train" if q < 16 else "test"].append(f"{q}\td{q}\t1\n")
    (folder / "qrels").mkdir(parents=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(r) + "\n" for r in corpus), encoding="utf-8")
    (folder / "queries.jsonl").write_text("".join(json.dumps(r) + "\n" for r in queries), encoding="utf-8")
    for split, rows in qrels.items():
        (folder / "qrels" / f"{split}.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows), encoding="utf-8")
    return folder


def _tiny_train_config(path: Path) -> Path:
    """configs/scifact.yaml at a tiny model's budget: small batches and lengths, no sampler process, no bf16."""
    values = yaml.safe_load(SCIFACT_CONFIG.read_text(encoding="utf-8"))
    values.update(batch_size=4, bf16=False, sampler_process=False, checkpoint_every=2, log_every=1, learning_rate=1e-3)
    values["student"].update(query_max_length=16, passage_max_length=32)
    path.write_text(yaml.safe_dump(values), encoding="utf-8")
    return path


@pytest.mark.slow
def test_the_api_page_example_runs(tmp_path, tiny_bert_dir, monkeypatch):
    data = _write_beir(tmp_path / "scifact-like")
    config = _tiny_train_config(tmp_path / "tiny.yaml")
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    # the page's placeholders: SciFact, the default model, the repository's config and the step budget
    placeholders = {
        'DATA = "../shared/data/scifact"': f"DATA = {str(data)!r}",
        'MODEL = "all-MiniLM-L6-v2"': f"MODEL = {str(tiny_bert_dir)!r}",
        '"configs/scifact.yaml"': repr(str(config)),
        '"steps=100"': '"steps=4"',
    }
    code = _code_blocks(API_PAGE)
    for written, used in placeholders.items():
        assert code.count(written) == 1, f"docs/api.md no longer holds {written} once: update this test's placeholders"
        code = code.replace(written, used)
    namespace: dict = {"__name__": "docs_api"}
    exec(compile(code, str(API_PAGE), "exec"), namespace)  # noqa: S102

    assert set(namespace["per_query"]) == {str(q) for q in range(16, 24)}
    assert (work / "runs" / "api" / "reranked.trec").is_file()
    assert len(tasb.read_scores(work / "runs" / "api" / "teacher_scores.tsv")) == len(namespace["pairs"]) > 0
    folder = namespace["folder"]
    assert folder == Path("runs/api/student") and (work / folder / "model").is_dir()
    assert json.loads((work / folder / "metrics.json").read_text())["steps"] == 4
    # BM25 finds each claim's own passage on this collection: the data is what the page says it is
    assert tasb.evaluate(namespace["bm25_run"], namespace["test"].qrels)["R@100"] == 1.0


def test_the_api_page_config_loads_with_its_overrides(tmp_path):
    """The page trains from configs/scifact.yaml itself: it loads with the overrides the page gives it."""
    code = _code_blocks(API_PAGE)
    overrides = re.search(r"tasb\.load_config\(tasb\.TrainConfig, \"configs/scifact\.yaml\", \[(.*?)\]\)", code, re.DOTALL)
    assert overrides, "docs/api.md no longer loads configs/scifact.yaml with a list of overrides"
    values = eval(f"[{overrides.group(1)}]", {"DATA": "data/scifact", "MODEL": "all-MiniLM-L6-v2"})  # noqa: S307
    config = tasb.load_config(tasb.TrainConfig, SCIFACT_CONFIG, values)
    assert (config.steps, config.output_dir, config.data.data) == (100, "runs/api/student", "data/scifact")


def test_train_refuses_a_config_without_a_score_file(tmp_path):
    with pytest.raises(tasb.InputError, match="teacher_scores"):
        tasb.train(tasb.TrainConfig(output_dir=str(tmp_path / "run")))


def test_train_applies_overrides_to_a_config_object():
    from tasb.training.run import train_config

    config = train_config(tasb.TrainConfig(), ["steps=7", "student.pooling=cls"])
    assert (config.steps, config.student.pooling) == (7, "cls")
    with pytest.raises(tasb.InputError, match="no_such_key"):
        train_config(tasb.TrainConfig(), ["no_such_key=1"])
