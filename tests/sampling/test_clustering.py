import numpy as np
import pytest

from tasb.errors import InputError
from tasb.sampling.clustering import default_k, kmeans


def _blobs(blobs: int = 5, per_blob: int = 40, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Gaussian blobs of unit spread whose centres lie ~100 apart."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(blobs, dim)) * 20
    labels = np.repeat(np.arange(blobs), per_blob)
    return (centres[labels] + rng.normal(size=(len(labels), dim))).astype(np.float32), labels


def test_no_cluster_mixes_two_well_separated_blobs():
    # k-means from random points (faiss has no k-means++) can merge two blobs when k equals their number
    # (about half the seeds); with 10 centroids per blob every blob gets one, and a cluster is then one topic
    vectors, labels = _blobs()
    assignments, centroids = kmeans(vectors, k=50, seed=0)
    for cluster in np.unique(assignments):
        assert len(set(labels[assignments == cluster])) == 1
    assert len(np.unique(assignments)) > 5
    assert centroids.shape == (50, 16) and centroids.dtype == np.float32


def test_every_vector_is_assigned_to_its_nearest_centroid():
    vectors = np.random.default_rng(1).normal(size=(300, 8)).astype(np.float32)
    assignments, centroids = kmeans(vectors, k=7, seed=3)
    distances = ((vectors[:, None, :] - centroids[None, :, :]) ** 2).sum(-1)
    assert assignments.dtype == np.int64 and assignments.shape == (300,)
    np.testing.assert_allclose(distances[np.arange(300), assignments], distances.min(1), rtol=1e-5, atol=1e-5)


def test_same_seed_gives_same_clusters_and_another_seed_differs():
    vectors = np.random.default_rng(2).normal(size=(500, 12)).astype(np.float32)
    first, centroids = kmeans(vectors, k=10, seed=5)
    again, centroids_again = kmeans(vectors, k=10, seed=5)
    np.testing.assert_array_equal(first, again)
    np.testing.assert_array_equal(centroids, centroids_again)
    assert not np.array_equal(first, kmeans(vectors, k=10, seed=6)[0])


@pytest.mark.parametrize("k", [0, -1, 11, 2.5, True])
def test_k_outside_one_to_n_is_refused(k):
    with pytest.raises(InputError, match="between 1 and the number of vectors \\(10\\)"):
        kmeans(np.zeros((10, 4), dtype=np.float32), k=k, seed=0)


def test_no_vectors_is_refused():
    with pytest.raises(InputError, match="at least one vector"):
        kmeans(np.zeros((0, 4), dtype=np.float32), k=1, seed=0)


def test_k_equal_to_n_and_k_one_work():
    vectors = np.random.default_rng(3).normal(size=(6, 4)).astype(np.float32)
    assert sorted(kmeans(vectors, k=6, seed=0)[0]) == list(range(6))
    assert set(kmeans(vectors, k=1, seed=0)[0]) == {0}


def test_default_k_is_about_200_queries_per_cluster():
    assert default_k(400_000) == 2000  # the paper's 2K clusters
    assert default_k(6980) == 35
    assert default_k(10) == 1
    assert default_k(0) == 1
