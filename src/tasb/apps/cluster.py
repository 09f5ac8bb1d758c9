"""``tasb cluster``: the queries' topic clusters for TAS, from query vectors of a BERT_DOT.

Encode the queries → k-means (``tasb.sampling.clustering``) → a folder with ``clusters.tsv``
(``qid<TAB>cluster``), ``centroids.npy`` (row i: cluster i), ``sizes.json`` (sizes and a summary) and
``clusters.png`` (t-SNE of a few random clusters, like the paper's Figure 1). A command: it joins models,
sampling and evaluation, which do not know each other.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any, Optional

import typer

from tasb import layout
from tasb.apps.command import tasb_command
from tasb.apps.options import BATCH_SIZE, BF16, DATA_DIR, DEVICE, OUT, QRELS, QUERIES, RANDOM_SEED, SPLIT, described, option
from tasb.config import AT_LEAST_0, AT_LEAST_1, SEED, DataConfig, Placement, check_config
from tasb.errors import InputError


@dataclasses.dataclass
class ClusterConfig(Placement):
    """``tasb cluster``: the training queries' topic clusters for TAS (paper Sec. 3, eq. 10)."""

    out: str = "runs/clusters"
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    # the BERT_DOT whose query vectors are clustered (the paper: a pairwise-trained baseline)
    model: str = "all-MiniLM-L6-v2"
    # None: about 200 queries per cluster, the paper's 2K clusters for 400K queries
    num_clusters: int | None = None
    niter: int = 20
    seed: int = 42
    batch_size: int = 256
    bf16: bool = True
    plot_clusters: int = 6
    plot_examples: int = 3

    limits = {
        "num_clusters": AT_LEAST_1, "niter": AT_LEAST_1, "seed": SEED, "batch_size": AT_LEAST_1, "plot_clusters": AT_LEAST_1,
        "plot_examples": AT_LEAST_0,
    }


def run_clustering(config: ClusterConfig) -> dict[str, Any]:
    """Cluster the queries of ``config.data`` into ``config.out`` (whole or not at all); returns the summary."""
    import numpy as np

    from tasb.data import load_queries, write_clusters
    from tasb.evaluation.plots import cluster_plot
    from tasb.fsutil import atomic_dir
    from tasb.models.student import BertDot
    from tasb.outputs import check_folder
    from tasb.sampling.clustering import check_k, default_k, kmeans

    check_config(config)
    out = Path(config.out)
    # the folder is replaced as a whole: only an earlier cluster folder (or an empty one) may go
    check_folder(out, "cluster folder")
    data = config.data
    queries, _ = load_queries(data.data, data.split, data.queries, data.qrels, need_qrels=False)
    if not queries:
        raise InputError(data.queries or data.data, "at least one query to cluster", "none")
    k = config.num_clusters if config.num_clusters is not None else default_k(len(queries))
    check_k(k, len(queries))  # before the encoding, which takes a minute for 400K queries

    qids = list(queries)
    texts = [queries[qid] for qid in qids]
    student = BertDot.load(config.model, device=config.device)
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
        write_clusters({qid: int(cluster) for qid, cluster in zip(qids, assignments)}, tmp / layout.CLUSTERS)
        np.save(tmp / layout.CENTROIDS, centroids)
        title = f"t-SNE of random clusters: {k} clusters of {len(qids)} queries, {Path(config.model).name}"
        summary["plotted"] = cluster_plot(
            vectors, assignments, texts, tmp / layout.CLUSTER_PLOT, clusters=config.plot_clusters, examples=config.plot_examples,
            seed=config.seed, title=title,
        )
        payload = {**summary, "sizes": {str(c): int(s) for c, s in enumerate(sizes)}}
        (tmp / layout.SIZES).write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    return summary


@tasb_command(
    ClusterConfig,
    "tasb cluster --data scifact --split train --model runs/baseline/model --num-clusters 40 --out runs/clusters",
    [
        described(OUT, "folder: clusters.tsv, centroids.npy, sizes.json, clusters.png"), DATA_DIR, SPLIT, QUERIES,
        described(QRELS, "only the queries judged here are clustered"),
        option("model", str, "--model", "BERT_DOT folder or name whose query vectors are clustered"),
        option("num_clusters", Optional[int], "--num-clusters", "how many clusters; default: queries / 200 (the paper's 2K for 400K)"),
        option("niter", int, "--niter", "k-means iterations"),
        described(RANDOM_SEED, "k-means initialisation and the plot's random clusters"),
        described(BATCH_SIZE, "queries per forward pass"),
        option("plot_clusters", int, "--plot-clusters", "random clusters in clusters.png"),
        option("plot_examples", int, "--plot-examples", "example queries shown per plotted cluster"),
        BF16, DEVICE,
    ],
    aliases={"--k": "--num-clusters"},
)
def command(config: ClusterConfig) -> None:
    """Topic clusters of the queries for TAS: encode with a BERT_DOT, k-means (faiss), write the cluster folder and a Figure-1 plot."""
    summary = run_clustering(config)
    typer.echo(
        f"wrote {config.out} ({summary['n']} queries in {summary['k']} clusters; "
        f"size min {summary['size_min']}, median {summary['size_median']:g}, max {summary['size_max']})"
    )
