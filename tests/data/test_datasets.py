"""Dataset checks made after loading: judgments naming passages the corpus lacks."""

import pytest

from tasb.errors import InputError


def test_a_judged_passage_missing_from_the_corpus_is_named_at_its_qrels_line_in_either_format(tmp_path):
    from tasb.data import check_judged_passages
    from tasb.data.records import Dataset

    dataset = Dataset(corpus={"p1": "one"}, queries={"q1": "a", "q2": "b"}, qrels={"q1": {"p1": 1}, "q2": {"1": 2}}, source="c")
    trec = tmp_path / "qrels.trec"
    trec.write_text("q1 0 p1 1\nq2 0 1 2\n")  # the passage id "1" also looks like TREC's column 1 and a grade
    beir = tmp_path / "qrels.tsv"
    beir.write_text("query-id\tcorpus-id\tscore\nq1\tp1\t1\nq2\t1\t2\n")
    for path, line in ((trec, 2), (beir, 3)):
        with pytest.raises(InputError, match=f"{path.name}:{line}: .*got '1'"):
            check_judged_passages(dataset, None, "test", str(path))
