"""``tasb cluster``: the queries' topic clusters for TAS, from query vectors of a BERT_DOT.

Encode the queries → k-means (``tasb.sampling.clustering``) → a folder with ``clusters.tsv``
(``qid<TAB>cluster``), ``centroids.npy`` (row i: cluster i), ``sizes.json`` (sizes and a summary) and
``clusters.png`` (t-SNE of a few random clusters, like the paper's Figure 1). This module sits at the
top like ``quickstart``: it joins models, sampling and evaluation, which do not know each other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from tasb.config import ClusterConfig
from tasb.data import load_queries, write_clusters
from tasb.errors import InputError
from tasb.evaluation.plots import cluster_plot
from tasb.fsutil import atomic_dir
from tasb.models.student import BertDot
from tasb.outputs import check_folder
from tasb.sampling.clustering import check_k, default_k, kmeans

CLUSTERS = "clusters.tsv"
CENTROIDS = "centroids.npy"
SIZES = "sizes.json"
PLOT = "clusters.png"


def run_clustering(config: ClusterConfig) -> dict[str, Any]:
    """Cluster the queries of ``config.data`` into ``config.output_dir`` (whole or not at all); returns the summary."""
    out = Path(config.output_dir)
    _refuse_foreign_folder(out)
    if config.plot_clusters < 1:
        raise InputError("plot_clusters", "at least 1 cluster to plot", repr(config.plot_clusters))
    if config.plot_examples < 0:
        raise InputError("plot_examples", "0 or more example queries per plotted cluster", repr(config.plot_examples))
    data = config.data
    queries, _ = load_queries(data.data, data.split, data.queries, data.qrels, need_qrels=False)
    if not queries:
        raise InputError(data.queries or data.data, "at least one query to cluster", "none")
    k = config.k if config.k is not None else default_k(len(queries))
    check_k(k, len(queries))  # before the encoding, which takes a minute for 400K queries

    qids = list(queries)
    texts = [queries[qid] for qid in qids]
    student = BertDot.load(config.model)
    vectors = student.encode_queries(texts, batch_size=config.batch_size, bf16=config.bf16, progress="encode queries")
    assignments, centroids = kmeans(vectors, k, seed=config.seed, niter=config.niter)

    sizes = np.bincount(assignments, minlength=k)
    # an absolute path, so the summary still names the model when read from another directory
    model = str(Path(config.model).resolve()) if Path(config.model).exists() else config.model
    summary: dict[str, Any] = {
        "n": len(qids),
        "k": k,
        "dim": int(vectors.shape[1]),
        "model": model,
        "seed": config.seed,
        "niter": config.niter,
        "bf16": config.bf16,
        "size_min": int(sizes.min()),
        "size_median": float(np.median(sizes)),
        "size_max": int(sizes.max()),
        "empty": int(np.sum(sizes == 0)),
    }
    with atomic_dir(out) as tmp:
        write_clusters({qid: int(cluster) for qid, cluster in zip(qids, assignments)}, tmp / CLUSTERS)
        np.save(tmp / CENTROIDS, centroids)
        title = f"t-SNE of random clusters: {k} clusters of {len(qids)} queries, {Path(config.model).name}"
        summary["plotted"] = cluster_plot(
            vectors, assignments, texts, tmp / PLOT, clusters=config.plot_clusters, examples=config.plot_examples,
            seed=config.seed, title=title,
        )
        payload = {**summary, "sizes": {str(c): int(s) for c, s in enumerate(sizes)}}
        (tmp / SIZES).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return summary


def _refuse_foreign_folder(out: Path) -> None:
    # the folder is replaced as a whole: only an earlier cluster folder (or an empty one) may go
    check_folder(out, "cluster folder")
