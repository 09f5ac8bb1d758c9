import math

import pytest

from tasb.data import read_qrels, read_run
from tasb.evaluation import evaluate, evaluate_per_query

QRELS = {"q1": {"d1": 2, "d2": 1, "d3": 0}}
RUN = {"q1": {"d3": 3.0, "d2": 2.0, "d1": 1.0}}


def test_graded_ndcg_uses_trec_evals_linear_gain():
    dcg = 1 / math.log2(3) + 2 / math.log2(4)
    ideal = 2 + 1 / math.log2(3)
    assert evaluate(RUN, QRELS, measures=("nDCG@10",))["nDCG@10"] == pytest.approx(dcg / ideal)


@pytest.mark.parametrize("rel, rr, recall", [(1, 1 / 2, 1 / 2), (2, 1 / 3, 0.0)])
def test_rel_sets_the_grade_at_which_rr_and_recall_count(rel, rr, recall):
    got = evaluate(RUN, QRELS, rel=rel, measures=("RR@10", "R@2"))
    assert got == pytest.approx({"RR@10": rr, "R@2": recall})


def test_per_query_values_average_to_the_aggregate():
    qrels = {**QRELS, "q2": {"d1": 1}}
    run = {**RUN, "q2": {"d1": 1.0, "d2": 0.5}}
    per_query = evaluate_per_query(run, qrels, measures=("RR@10",))["RR@10"]
    assert per_query == pytest.approx({"q1": 0.5, "q2": 1.0})
    assert evaluate(run, qrels, measures=("RR@10",))["RR@10"] == pytest.approx(0.75)


def test_unknown_measure_is_refused():
    with pytest.raises(ValueError, match="unknown measure"):
        evaluate(RUN, QRELS, measures=("Bogus@5",))


def test_any_ir_measures_name_counts_relevance_from_rel_unless_it_names_its_own():
    got = evaluate(RUN, QRELS, rel=2, measures=("P@1", "P@3", "AP", "RR(rel=1)@10"))
    assert got == pytest.approx({"P@1": 0.0, "P@3": 1 / 3, "AP": 1 / 3, "RR(rel=1)@10": 1 / 2})


# Published trec_eval figures (Pyserini's) for the rank_llm top-100 runs, checked in the data's SOURCE.md.
@pytest.mark.integration
@pytest.mark.parametrize(
    "system, year, ndcg",
    [("D_BERT_KD_TASB", "19", 0.7210), ("D_BERT_KD_TASB", "20", 0.6854), ("BM25", "19", 0.5058), ("BM25", "20", 0.4796)],
)
def test_dl_ndcg_equals_trec_eval(shared_data, system, year, ndcg):
    run = read_run(shared_data / "msmarco-trec-dl-candidates-rank_llm" / system / f"trec_results_dl{year}.txt")
    qrels_name = "qrels.dl19-passage.txt" if year == "19" else "qrels.dl20-passage.txt"
    qrels = read_qrels(shared_data / "msmarco-passage-trec-dl-topics-qrels" / qrels_name)
    assert evaluate(run, qrels, rel=2)["nDCG@10"] == pytest.approx(ndcg, abs=5e-5)
