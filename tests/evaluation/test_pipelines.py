"""tasb pipelines: one table of pipelines × topic sets, measures from the written runs, reruns skip what is done."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tasb.apps.pipelines import PipelinesConfig, TopicSetConfig, file_stem, run_pipelines
from tasb.cli import app
from tasb.config import PipelineConfig, check_config
from tasb.data import read_qrels, read_run
from tasb.errors import InputError
from tasb.evaluation.metrics import evaluate
from tasb.models.student import BertDot
from tasb.retrieval.index import build_index

CORPUS = {f"p{i}": f"passage {i} about topic {i % 7} and subject {i % 11}" for i in range(80)}


@pytest.fixture()
def setup(tiny_bert_dir, tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"{pid}\t{text}\n" for pid, text in CORPUS.items()), encoding="utf-8")
    build_index(BertDot.load(str(tiny_bert_dir)), CORPUS, tmp_path / "index", bf16=False, model_name=str(tiny_bert_dir))
    topics = []
    for name, offset in (("A", 0), ("B", 3)):
        queries = tmp_path / f"{name}.tsv"
        queries.write_text("".join(f"q{i}\ttopic {i + offset} subject {i}\n" for i in range(4)), encoding="utf-8")
        qrels = tmp_path / f"{name}.qrels"
        # grades 1 and 3: with rel 2 only the grade-3 passages count for RR and recall
        qrels.write_text("".join(f"q{i} 0 p{(i + offset) % 7} 3\nq{i} 0 p{i + 7} 1\n" for i in range(4)), encoding="utf-8")
        topics.append(TopicSetConfig(name=name, queries=str(queries), qrels=str(qrels)))
    pipelines = [
        PipelineConfig(name="bm25", bm25=True, k=50),
        PipelineConfig(name="dense", index=str(tmp_path / "index"), k=50, bf16=False),
        PipelineConfig(name="fused", index=str(tmp_path / "index"), bm25=True, k=50, bf16=False),
        PipelineConfig(name="fused+rerank", index=str(tmp_path / "index"), bm25=True, k=50, bf16=False, scorers=["bm25"], rerank_depth=5),
    ]
    return PipelinesConfig(corpus=str(corpus), topics=topics, pipelines=pipelines, output_dir=str(tmp_path / "out"))


@pytest.mark.slow
def test_table_rows_come_from_the_written_runs_with_rel_applied(setup):
    out = run_pipelines(setup)

    table = (out / "results.md").read_text(encoding="utf-8")
    assert table.splitlines()[0].startswith("| pipeline | A nDCG@10 | A RR@10 | A R@1000 | A ms/query | B nDCG@10")
    for topics in setup.topics:
        qrels = read_qrels(topics.qrels)
        for pipeline in setup.pipelines:
            record = json.loads((out / topics.name / f"{pipeline.name}.json").read_text())
            expected = evaluate(read_run(out / topics.name / f"{pipeline.name}.trec"), qrels, rel=2, measures=("nDCG@10", "RR@10", "R@1000"))
            assert record["measures"] == pytest.approx(expected)
            assert record["calls"] == 4  # batch_size 1: one call per query
            assert record["ms_per_query"]["total"] == pytest.approx(sum(v for k, v in record["ms_per_query"].items() if k != "total"))
        assert (out / f"recall-{topics.name}.png").stat().st_size > 0
    rows = {line.split(" | ")[0].lstrip("| ") for line in table.splitlines()}
    assert {"bm25", "dense", "fused", "fused+rerank"} <= rows
    assert "rerank" in json.loads((out / "A" / "fused+rerank.json").read_text())["ms_per_query"]


@pytest.mark.slow
def test_a_rerun_skips_unchanged_pipelines_and_redoes_changed_ones(setup):
    out = run_pipelines(setup)
    before = {p.name: (out / "A" / f"{p.name}.trec").stat().st_mtime_ns for p in setup.pipelines}

    setup.pipelines[0].k = 40
    run_pipelines(setup)

    after = {p.name: (out / "A" / f"{p.name}.trec").stat().st_mtime_ns for p in setup.pipelines}
    assert after["bm25"] != before["bm25"]
    assert {k: v for k, v in after.items() if k != "bm25"} == {k: v for k, v in before.items() if k != "bm25"}


@pytest.mark.slow
def test_a_rebuilt_index_changed_qrels_or_a_missing_run_are_not_reused(setup, tiny_bert_dir):
    out = run_pipelines(setup)

    def mtimes():
        return {p.name: (out / "A" / f"{p.name}.trec").stat().st_mtime_ns for p in setup.pipelines}

    before = mtimes()
    index = setup.pipelines[1].index
    build_index(BertDot.load(str(tiny_bert_dir)), CORPUS, index, bf16=False, model_name=str(tiny_bert_dir))
    run_pipelines(setup)
    after = mtimes()
    assert after["bm25"] == before["bm25"]
    assert all(after[name] != before[name] for name in ("dense", "fused", "fused+rerank"))

    qrels = Path(setup.topics[0].qrels)
    qrels.write_text(qrels.read_text(encoding="utf-8") + "q0 0 p50 2\n", encoding="utf-8")
    (out / "A" / "dense.trec").unlink()
    run_pipelines(setup)
    assert all(mtimes()[name] != after[name] for name in after)
    assert (out / "A" / "dense.trec").is_file()


def test_names_become_portable_file_names():
    assert file_stem("dense+BM25 > ColBERT@10") == "dense+BM25-ColBERT@10"
    assert file_stem("TREC DL/2019") == "TREC-DL-2019"


@pytest.mark.slow
def test_duplicate_names_and_empty_sections_are_refused(setup):
    setup.pipelines[1].name = "bm25"
    with pytest.raises(InputError, match="distinct"):
        check_config(setup)
    setup.pipelines[1].name = "bm25 >"  # the same file name as "bm25"
    with pytest.raises(InputError, match="distinct"):
        check_config(setup)
    with pytest.raises(InputError, match="topics"):
        check_config(PipelinesConfig(corpus="c.tsv"))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["..", "."])
def test_a_name_that_would_write_outside_the_output_folder_is_refused(setup, name):
    setup.topics[0].name = name
    with pytest.raises(InputError, match="not starting with '.'"):
        check_config(setup)


@pytest.mark.slow
def test_a_run_interrupted_before_its_record_leaves_no_record_to_reuse(setup, monkeypatch):
    import tasb.evaluation.metrics

    out = run_pipelines(setup)
    setup.pipelines[0].k = 40

    def killed(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patched:
        patched.setattr(tasb.evaluation.metrics, "evaluate", killed)
        with pytest.raises(KeyboardInterrupt):
            run_pipelines(setup)
    assert (out / "A" / "bm25.trec").is_file() and not (out / "A" / "bm25.json").exists()

    setup.pipelines[0].k = 50  # the settings of the record the interrupted run replaced
    run_pipelines(setup)
    record = json.loads((out / "A" / "bm25.json").read_text())
    expected = evaluate(read_run(out / "A" / "bm25.trec"), read_qrels(setup.topics[0].qrels), rel=2, measures=("nDCG@10", "RR@10", "R@1000"))
    assert record["measures"] == pytest.approx(expected)


@pytest.mark.slow
def test_pipelines_command_prints_the_table(setup, tmp_path):
    import yaml

    from tasb.config import to_dict

    config = tmp_path / "pipelines.yaml"
    config.write_text(yaml.safe_dump(to_dict(setup)), encoding="utf-8")
    result = CliRunner().invoke(app, ["pipelines", str(config), "--set", "batch_size=2"])
    assert result.exit_code == 0, result.output
    assert "| fused+rerank |" in result.stdout
    assert json.loads((tmp_path / "out" / "B" / "dense.json").read_text())["calls"] == 2


def test_the_repositorys_trec_dl_config_writes_beside_its_indexes_not_over_them():
    # docs/pipelines.md builds the indexes under runs/trec-dl first: a table written into their parent is refused
    from tasb.config import load_config

    config = load_config(PipelinesConfig, Path(__file__).resolve().parents[2] / "configs" / "trec-dl.yaml")
    out = Path(config.output_dir)
    indexes = {Path(pipeline.index) for pipeline in config.pipelines if pipeline.index}
    assert indexes and all(out not in index.parents and out != index and index not in out.parents for index in indexes)
