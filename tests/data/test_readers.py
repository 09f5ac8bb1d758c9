import gzip
import json

import pytest

from tasb.data import (
    ScoredPair,
    load_dataset,
    read_clusters,
    read_corpus,
    read_qrels,
    read_queries,
    read_run,
    read_scores,
    write_clusters,
    write_run,
    write_scores,
)
from tasb.errors import InputError


def _write(path, text, mode="w"):
    path.write_bytes(text) if isinstance(text, bytes) else path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture
def beir(tmp_path):
    folder = tmp_path / "beir"
    (folder / "qrels").mkdir(parents=True)
    docs = [{"_id": "d1", "title": "Cats", "text": "purr loudly"}, {"_id": "d2", "title": "", "text": "dogs bark"}]
    _write(folder / "corpus.jsonl", "\n".join(json.dumps(d) for d in docs) + "\n")
    _write(folder / "queries.jsonl", '{"_id": "q1", "text": "do cats purr"}\n{"_id": "q2", "text": "barking"}\n')
    _write(folder / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq1\td1\t1\n")
    return folder


def test_beir_folder_joins_title_and_keeps_only_judged_queries(beir):
    data = load_dataset(str(beir), split="test")
    assert data.corpus == {"d1": "Cats purr loudly", "d2": "dogs bark"}
    assert data.queries == {"q1": "do cats purr"}
    assert data.qrels == {"q1": {"d1": 1}}


def test_data_dir_env_resolves_a_relative_name(beir, monkeypatch):
    monkeypatch.setenv("TASB_DATA_DIR", str(beir.parent))
    assert load_dataset("beir", split="test").qrels == {"q1": {"d1": 1}}


def test_missing_data_names_the_setting_not_an_option(monkeypatch):
    # library code names the setting; the CLI says which of its options sets it
    monkeypatch.delenv("TASB_DATA_DIR", raising=False)
    with pytest.raises(InputError, match="a dataset") as refused:
        load_dataset(None)
    assert refused.value.path == "data" and "--" not in str(refused.value)


def test_missing_split_lists_the_available_ones(beir):
    with pytest.raises(InputError, match="the folder's splits: test"):
        load_dataset(str(beir), split="dev")


def test_msmarco_tsv_and_trec_qrels(tmp_path):
    corpus = read_corpus(_write(tmp_path / "c.tsv", "0\tfirst passage\n7\tsecond passage\n"))
    queries = read_queries(_write(tmp_path / "q.tsv", "11\twhat is first\n"))
    qrels = read_qrels(_write(tmp_path / "qrels.txt", "11 0 0 2\n11 0 7 0\n"))
    assert corpus == {"0": "first passage", "7": "second passage"}
    assert queries == {"11": "what is first"}
    assert qrels == {"11": {"0": 2, "7": 0}}


def test_empty_passages_are_kept_and_counted_in_a_warning(tmp_path, caplog):
    # public BEIR collections hold documents with neither title nor text, and qrels may judge them
    docs = [{"_id": "d1", "title": "Cats", "text": "purr"}, {"_id": "d2", "title": "", "text": ""},
            {"_id": "d3", "title": None, "text": "  "}]
    path = _write(tmp_path / "corpus.jsonl", "".join(json.dumps(d) + "\n" for d in docs))
    tsv = _write(tmp_path / "corpus.tsv", "p1\tcats\np2\t\n")

    with caplog.at_level("WARNING"):
        assert read_corpus(path) == {"d1": "Cats purr", "d2": "", "d3": ""}
        assert read_corpus(tsv) == {"p1": "cats", "p2": ""}
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 2
    assert str(path) in warnings[0] and "2 of 3 passages are empty" in warnings[0]
    assert str(tsv) in warnings[1] and "1 of 2 passages are empty" in warnings[1]


def test_a_corpus_without_empty_passages_warns_of_nothing(tmp_path, caplog):
    with caplog.at_level("WARNING"):
        read_corpus(_write(tmp_path / "c.tsv", "p1\tcats\n"))
    assert not caplog.records


def test_run_round_trip_is_ranked_and_cut(tmp_path):
    path = tmp_path / "run.trec"
    write_run({"q": {"a": 0.5, "b": 2.0, "c": 1.0}}, path, k=2)
    assert path.read_text().splitlines() == ["q Q0 b 1 2.000000 tasb", "q Q0 c 2 1.000000 tasb"]
    assert read_run(path) == {"q": {"b": 2.0, "c": 1.0}}


def test_score_file_round_trip(tmp_path):
    rows = [ScoredPair(3.5, -1.25, "q1", "p1", "p2"), ScoredPair(0.0, 0.5, "q2", "p3", "p4")]
    path = tmp_path / "scores.tsv"
    write_scores(rows, path)
    assert path.read_text().splitlines()[0] == "3.500000\t-1.250000\tq1\tp1\tp2"
    assert read_scores(path) == rows
    assert rows[0].margin == 4.75


def test_a_gz_output_is_gzipped_so_it_reads_back_and_the_same_text_gives_the_same_bytes(tmp_path):
    rows = [ScoredPair(3.5, -1.25, "q1", "p1", "p2")]
    write_scores(rows, tmp_path / "scores.tsv.gz")
    write_run({"q": {"a": 0.5, "b": 2.0}}, tmp_path / "run.trec.gz")
    assert gzip.decompress((tmp_path / "scores.tsv.gz").read_bytes()).decode() == "3.500000\t-1.250000\tq1\tp1\tp2\n"
    assert read_scores(tmp_path / "scores.tsv.gz") == rows
    assert read_run(tmp_path / "run.trec.gz") == {"q": {"a": 0.5, "b": 2.0}}
    first = (tmp_path / "run.trec.gz").read_bytes()
    write_run({"q": {"a": 0.5, "b": 2.0}}, tmp_path / "run.trec.gz")
    assert (tmp_path / "run.trec.gz").read_bytes() == first


BAD_INPUTS = [
    ("corpus", "c.tsv", "1\tok\n2 no tab here\n", 2, "2 tab-separated columns"),
    ("corpus", "c.tsv", "1\tok\n1\tagain\n", 2, "unique passage ids"),
    ("corpus", "c.jsonl", '{"_id": "1", "text": "ok"}\n{"_id": "2", "text": ["a", "list"]}\n', 2, "a string for the passage text"),
    ("corpus", "c.jsonl", '{"_id": "1", "title": {"a": "dict"}, "text": "ok"}\n', 1, "a string for the passage title"),
    ("corpus", "c.jsonl", '{"_id": "1", "title": 7, "text": "ok"}\n', 1, "a string for the passage title"),
    ("corpus", "c.jsonl", '{"_id": "1", "text": 3.5}\n', 1, "a string for the passage text"),
    ("corpus", "c.jsonl", '{"_id": "1", "text": "ok"}\n{"_id": "2", "text": \n', 2, "one JSON object"),
    ("corpus", "c.jsonl", '{"_id": "1", "body_missing": "x"}\n', 1, "passage text"),
    ("corpus", "c.tsv", b"1\tok\n2\t\xff\xfe bad\n", 2, "UTF-8"),
    ("queries", "q.tsv", "1\tok\n2\n", 2, "2 tab-separated columns: qid"),
    ("queries", "q.jsonl", '{"_id": "1", "text": ""}\n', 1, "non-empty query"),
    ("queries", "q.jsonl", '{"_id": "1", "text": "ok"}\n{"_id": "2", "text": ["a"]}\n', 2, "a string for the query text"),
    ("queries", "q.jsonl", '{"_id": "1", "text": true}\n', 1, "a string for the query text"),
    ("qrels", "qrels.txt", "1 0 5 1\n1 0 6\n1 0 6 x\n", 3, "integer relevance"),
    ("qrels", "qrels.txt", "1 0 5 1 extra column\n", 1, "TREC qrels"),
    ("qrels", "qrels.txt", "1 0 5 1\n1 0 5 2\n", 2, "one judgment per"),
    ("run", "run.trec", "1 Q0 5 1 2.0 t\n1 Q0 6 2\n", 2, "6 columns"),
    ("run", "run.trec", "1 Q0 5 1 nan t\n", 1, "finite number"),
    ("scores", "s.tsv", "1.0\t0.5\tq\tp1\tp2\n1.0\t0.5\tq\tp1\n", 2, "5 tab-separated columns"),
    ("scores", "s.tsv", "1.0\tinf\tq\tp1\tp2\n", 1, "finite number for score_neg"),
    ("scores", "s.tsv", "high\t0.5\tq\tp1\tp2\n", 1, "number for score_pos"),
]
READERS = {"corpus": read_corpus, "queries": read_queries, "qrels": read_qrels, "run": read_run, "scores": read_scores}


@pytest.mark.parametrize("kind, name, content, line, expected", BAD_INPUTS)
def test_bad_lines_are_reported_with_file_and_line(tmp_path, kind, name, content, line, expected):
    path = _write(tmp_path / name, content)
    with pytest.raises(InputError) as err:
        READERS[kind](path)
    assert err.value.path == str(path) and err.value.line == line
    assert expected in str(err.value)


@pytest.mark.parametrize("kind", sorted(READERS))
def test_empty_and_missing_files_are_refused(tmp_path, kind):
    with pytest.raises(InputError, match="empty file"):
        READERS[kind](_write(tmp_path / "empty.tsv", "\n"))
    with pytest.raises(InputError, match="no such file"):
        READERS[kind](tmp_path / "missing.tsv")


def test_score_file_naming_unknown_ids_is_refused(tmp_path):
    path = _write(tmp_path / "s.tsv", "1\t0\tq1\tp1\tp2\n1\t0\tq1\tp1\tp9\n")
    with pytest.raises(InputError, match="a pid of the corpus") as err:
        read_scores(path, queries={"q1"}, passages={"p1", "p2"})
    assert err.value.line == 2


def test_qrels_naming_unknown_queries_is_refused(beir):
    _write(beir / "qrels" / "test.tsv", "query-id\tcorpus-id\tscore\nq9\td1\t1\n")
    with pytest.raises(InputError, match="query ids that exist"):
        load_dataset(str(beir), split="test")


@pytest.mark.integration
def test_scifact_counts(scifact_dir):
    train = load_dataset(str(scifact_dir), split="train")
    test = load_dataset(str(scifact_dir), split="test")
    assert (len(train.corpus), len(train.queries), len(test.queries)) == (5183, 809, 300)
    assert sum(len(j) for j in test.qrels.values()) == 339


def test_beir_header_after_a_blank_line_is_skipped(tmp_path):
    path = _write(tmp_path / "q.tsv", "\nquery-id\tcorpus-id\tscore\nq1\td1\t1\n")
    assert read_qrels(path) == {"q1": {"d1": 1}}


@pytest.mark.parametrize("record", ['{"_id": "", "text": "x"}', '{"_id": "doc 1", "text": "x"}'])
def test_ids_that_could_not_be_written_to_a_run_are_refused(tmp_path, record):
    with pytest.raises(InputError, match="without whitespace") as err:
        read_corpus(_write(tmp_path / "c.jsonl", record + "\n"))
    assert err.value.line == 1


def test_outputs_are_readable_like_ordinary_files(tmp_path):
    import os

    write_run({"q": {"a": 1.0}}, tmp_path / "run.trec")
    assert os.stat(tmp_path / "run.trec").st_mode & 0o044 == 0o044 & ~os.umask(os.umask(0))


def test_clusters_file_with_or_without_header_keeps_labels_as_strings(tmp_path):
    expected = {"q1": "0", "q2": "17", "q3": "sports"}
    assert read_clusters(_write(tmp_path / "c.tsv", "q1\t0\nq2\t17\n\nq3\tsports\n")) == expected
    assert read_clusters(_write(tmp_path / "h.tsv", "qid\tcluster\nq1\t0\nq2\t17\nq3\tsports\n")) == expected
    write_clusters({"q1": 0, "q2": 17, "q3": "sports"}, tmp_path / "written.tsv")
    assert read_clusters(tmp_path / "written.tsv") == expected


@pytest.mark.parametrize(
    "content, line, expected",
    [
        ("q1\t0\nq2 3\n", 2, "2 tab-separated columns: qid, cluster"),
        ("q1\t0\nq2\t3\textra\n", 2, "2 tab-separated columns: qid, cluster"),
        ("q1\t0\n\t3\n", 2, "non-empty id"),
        ("q1\t0\nq2\t \n", 2, "non-empty cluster label"),
        ("q1\t0\nq2\t1\nq1\t2\n", 3, "one cluster per query"),
        ("q1\t0\nq 2\t1\n", 2, "without whitespace"),
    ],
)
def test_bad_cluster_lines_are_reported_with_file_and_line(tmp_path, content, line, expected):
    path = _write(tmp_path / "clusters.tsv", content)
    with pytest.raises(InputError) as err:
        read_clusters(path)
    assert err.value.path == str(path) and err.value.line == line
    assert expected in str(err.value)


def test_empty_and_missing_cluster_files_are_refused(tmp_path):
    with pytest.raises(InputError, match="empty file"):
        read_clusters(_write(tmp_path / "empty.tsv", "qid\tcluster\n"))
    with pytest.raises(InputError, match="no such file"):
        read_clusters(tmp_path / "missing.tsv")
