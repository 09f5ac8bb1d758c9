import pytest
from typer.testing import CliRunner

from tasb.cli import app
from tasb.data import read_run, write_run
from tasb.errors import InputError
from tasb.retrieval.fusion import interpolate, reciprocal_rank_fusion

# dense: a > b > c ; sparse: c > d (a and b not retrieved by the sparse run)
DENSE = {"q1": {"a": 0.9, "b": 0.7, "c": 0.5}}
SPARSE = {"q1": {"c": 12.0, "d": 4.0}, "q2": {"x": 3.0}}


def test_interpolation_min_max_gives_unretrieved_passages_the_runs_floor():
    fused = interpolate([DENSE, SPARSE], weights=[0.5, 0.5])
    # dense min-max: a 1, b .5, c 0 ; sparse: c 1, d 0, and a, b take its floor 0
    assert fused["q1"] == pytest.approx({"a": 0.5, "b": 0.25, "c": 0.5, "d": 0.0})
    assert fused["q2"] == pytest.approx({"x": 0.5})  # a query only one run has is still ranked


def test_interpolation_weights_tilt_the_fusion():
    fused = interpolate([DENSE, SPARSE], weights=[0.2, 0.8])
    assert fused["q1"] == pytest.approx({"a": 0.2, "b": 0.1, "c": 0.8, "d": 0.0})


def test_interpolation_with_z_scores():
    fused = interpolate([DENSE, SPARSE], normalization="z-score")
    z_dense = {"a": 1.224745, "b": 0.0, "c": -1.224745}
    z_sparse = {"c": 1.0, "d": -1.0}
    sparse_floor, dense_floor = z_sparse["d"], z_dense["c"]
    expected = {
        "a": z_dense["a"] + sparse_floor, "b": z_dense["b"] + sparse_floor,
        "c": z_dense["c"] + z_sparse["c"], "d": dense_floor + z_sparse["d"],
    }
    assert fused["q1"] == pytest.approx(expected, abs=1e-5)


def test_reciprocal_rank_fusion_sums_one_over_k_plus_rank():
    fused = reciprocal_rank_fusion([DENSE, SPARSE], k=60)
    assert fused["q1"] == pytest.approx({"a": 1 / 61, "b": 1 / 62, "c": 1 / 63 + 1 / 61, "d": 1 / 62})
    weighted = reciprocal_rank_fusion([DENSE, SPARSE], weights=[2, 1], k=0)
    assert weighted["q1"]["a"] == pytest.approx(2.0) and weighted["q1"]["c"] == pytest.approx(2 / 3 + 1)


def test_bad_weights_and_single_runs_are_refused():
    with pytest.raises(InputError, match="one weight per run"):
        interpolate([DENSE, SPARSE], weights=[1.0])
    with pytest.raises(InputError, match="non-negative"):
        reciprocal_rank_fusion([DENSE, SPARSE], weights=[1.0, -1.0])
    with pytest.raises(InputError, match="at least two runs"):
        interpolate([DENSE])


def test_fuse_command_writes_the_fused_ranking(tmp_path):
    write_run(DENSE, tmp_path / "dense.trec")
    write_run(SPARSE, tmp_path / "sparse.trec")
    out = tmp_path / "fused.trec"
    result = CliRunner().invoke(
        app, ["fuse", str(tmp_path / "dense.trec"), str(tmp_path / "sparse.trec"), "--out", str(out), "--method", "rrf", "--k", "2"]
    )
    assert result.exit_code == 0, result.output
    fused = read_run(out)
    assert list(fused["q1"]) == ["c", "a"]
    bad = CliRunner().invoke(app, ["fuse", str(tmp_path / "dense.trec"), str(tmp_path / "sparse.trec"), "--out", str(out), "--method", "max"])
    assert bad.exit_code == 2 and "method" in bad.output
