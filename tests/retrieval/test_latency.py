"""tasb bench latency: what is timed, how it is summarised, and the memory bound of a flat scan."""

from __future__ import annotations

import json

import faiss
import numpy as np
import pytest
from typer.testing import CliRunner

from tasb.apps.latency import LatencyConfig
from tasb.cli import app
from tasb.config import check_config
from tasb.errors import InputError
from tasb.retrieval.latency import (
    Timings,
    flat_vectors,
    read_bandwidth,
    synthetic_flat_index,
    time_batches,
)


def test_summary_is_mean_and_99th_percentile_of_encode_plus_search():
    summary = Timings(encode_ms=[1.0, 2.0, 3.0], search_ms=[1.0, 1.0, 1.0]).summary()

    assert summary["avg_ms"] == pytest.approx(3.0)
    # totals 2, 3, 4: the 99th percentile sits 98% of the way from 3 to 4 (linear interpolation)
    assert summary["p99_ms"] == pytest.approx(3.98)
    assert summary["encode_avg_ms"] == pytest.approx(2.0)
    assert summary["search_p99_ms"] == pytest.approx(1.0)
    assert summary["repeats"] == 3


@pytest.mark.slow
def test_batches_have_the_asked_size_and_warmup_is_not_timed():
    sizes = []

    def encode(batch):
        sizes.append(len(batch))
        return np.ones((len(batch), 4), dtype=np.float32)

    index = faiss.IndexFlatIP(4)
    index.add(np.eye(4, dtype=np.float32))
    config = LatencyConfig(seconds=0, min_repeats=3, warmup=2)
    timings = time_batches(encode, index, ["a", "b", "c"], 5, 2, config, np.random.default_rng(0))

    assert sizes == [5] * 5  # 2 warm-up batches, then 3 timed
    assert len(timings.encode_ms) == len(timings.search_ms) == 3
    assert all(ms >= 0 for ms in timings.encode_ms + timings.search_ms)


@pytest.mark.slow
def test_timing_stops_at_max_repeats_even_within_the_time_budget():
    index = faiss.IndexFlatIP(2)
    index.add(np.eye(2, dtype=np.float32))
    config = LatencyConfig(seconds=3600, min_repeats=1, max_repeats=4, warmup=0)
    timings = time_batches(lambda b: np.ones((len(b), 2), np.float32), index, ["q"], 1, 1, config, np.random.default_rng(0))
    assert len(timings.encode_ms) == 4


def test_synthetic_index_holds_unit_vectors_and_the_bound_reads_them_in_place():
    index = synthetic_flat_index(2500, 16, seed=3)
    vectors = flat_vectors(index)

    assert index.ntotal == 2500 and vectors.shape == (2500, 16)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, rtol=1e-5)
    # a view of faiss's storage: the bound is measured on the very bytes the search scans
    assert not vectors.flags.owndata
    _, rows = index.search(vectors[:3].copy(), 1)
    assert rows[:, 0].tolist() == [0, 1, 2]
    assert read_bandwidth(vectors) > 1e8  # bytes per second: any machine reads faster than 100 MB/s


@pytest.mark.parametrize(
    "change, named",
    [
        ({"batch_sizes": [1, 0]}, "batch_sizes"),
        ({"batch_sizes": []}, "batch_sizes"),
        ({"k": 0}, "k to be at least 1"),
        ({"queries": ""}, "queries"),
        ({"min_repeats": 5, "max_repeats": 2}, "max_repeats"),
        ({"synthetic": -1}, "synthetic"),
    ],
)
def test_settings_that_cannot_measure_are_refused(change, named):
    config = LatencyConfig(index="idx", queries="q.tsv")
    for key, value in change.items():
        setattr(config, key, value)
    with pytest.raises(InputError, match=named):
        check_config(config)


@pytest.mark.slow
def test_bench_latency_command_prints_table_1_figures_as_json(tiny_bert_dir, tmp_path):
    corpus = tmp_path / "corpus.tsv"
    corpus.write_text("".join(f"p{i}\tpassage number {i} about topic {i % 7}\n" for i in range(300)), encoding="utf-8")
    queries = tmp_path / "queries.tsv"
    queries.write_text("".join(f"q{i}\twhat about topic {i}\n" for i in range(20)), encoding="utf-8")
    runner = CliRunner()
    built = runner.invoke(app, ["index", "--corpus", str(corpus), "--model", str(tiny_bert_dir), "--out", str(tmp_path / "idx"), "--no-bf16"])
    assert built.exit_code == 0, built.output

    result = runner.invoke(app, [
        "bench", "latency", "--index", str(tmp_path / "idx"), "--queries", str(queries), "--batch-size", "1",
        "--batch-size", "4", "--k", "10", "--synthetic", "5000", "--seconds", "0", "--json",
        "--set", "min_repeats=3", "--set", "warmup=1",
    ])
    assert result.exit_code == 0, result.output
    figures = json.loads(result.stdout.strip().splitlines()[-1])

    index, synthetic = figures["systems"]["index"], figures["systems"]["synthetic"]
    assert (index["passages"], synthetic["passages"]) == (300, 5000)
    for system in (index, synthetic):
        assert set(system["batches"]) == {"1", "4"}
        assert system["batches"]["4"]["repeats"] == 3
        one = system["batches"]["1"]
        assert one["p99_ms"] >= one["avg_ms"] > 0
        assert one["bandwidth_ratio"] == pytest.approx(one["search_avg_ms"] / one["bandwidth_bound_ms"])
        assert one["same_query_p99_ms"] >= one["same_query_avg_ms"] > 0
        assert "bandwidth_ratio" not in system["batches"]["4"] and "same_query_avg_ms" not in system["batches"]["4"]
    assert synthetic["bytes_scanned"] == 5000 * index["dim"] * 4


def test_bench_latency_refuses_a_missing_index_in_one_line(tmp_path):
    queries = tmp_path / "q.tsv"
    queries.write_text("q1\thello\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["bench", "latency", "--index", str(tmp_path / "none"), "--queries", str(queries)])
    assert result.exit_code == 2
    assert "none" in result.output and "index folder" in result.output


def test_a_single_query_scans_on_one_thread_with_the_same_results_and_the_setting_restored():
    from tasb.retrieval.index import faiss_search

    class Recording(faiss.IndexFlatIP):
        threads_seen: list[int] = []

        def search(self, x, k, **kwargs):
            self.threads_seen.append(faiss.omp_get_max_threads())
            return super().search(x, k, **kwargs)

    index = Recording(16)
    vectors = np.random.default_rng(0).standard_normal((3000, 16), dtype=np.float32)
    index.add(vectors)
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(2)
    try:
        scores, rows = faiss_search(index, vectors[:1], 50)
        faiss_search(index, vectors[:2], 50)
        assert Recording.threads_seen == [1, 2]  # one query: one thread; a batch: the threads allowed
        assert faiss.omp_get_max_threads() == 2
    finally:
        faiss.omp_set_num_threads(before)
    expected_scores, expected_rows = faiss.IndexFlatIP.search(index, vectors[:1], 50)
    np.testing.assert_array_equal(rows, expected_rows)
    np.testing.assert_array_equal(scores, expected_scores)
