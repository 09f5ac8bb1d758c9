"""``tasb sample``: draw batches from a teacher score file, to see what a sampler would feed the trainer.

Writes one JSON line per batch and a PNG comparing Random with TAS-Balanced (paper Fig. 2): which margin
ranges and margins their pairs come from, and in how many batches each cluster appears. Needs only the
score file and the clusters file: no model, no text. It sits at the top, beside ``clusters``, because it joins
sampling and evaluation (the plot), which do not know each other.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import IO, Any, Sequence

import numpy as np

from tasb.config import SampleConfig
from tasb.data import read_clusters, read_scores
from tasb.data.records import ScoredPair
from tasb.errors import InputError
from tasb.evaluation.plots import sampling_plot
from tasb.fsutil import atomic_write
from tasb.sampling.checks import check_sampling_inputs
from tasb.sampling.random_sampler import PairArrays, RandomSampler
from tasb.sampling.tas import TASBalancedSampler, TASSampler, margin_bins

NAMES = {"random": "Random", "tas": "TAS", "tas-balanced": "TAS-Balanced"}
# without a clusters file, TAS-Balanced is compared with every query in this one cluster
ONE_CLUSTER = "all"


def plot_path(config: SampleConfig) -> Path:
    """Where the PNG goes: ``config.plot``, or ``<out stem>.png`` next to ``config.out``."""
    return Path(config.plot) if config.plot else Path(config.out).with_suffix(".png")


def run_sampling(config: SampleConfig) -> dict[str, Any]:
    """Draw ``config.batches`` batches into ``config.out`` and the comparison plot (both whole or not at all); returns a summary."""
    out, plot = Path(config.out), plot_path(config)
    _check_settings(config, out, plot)
    scores = read_scores(config.teacher_scores)
    clusters = read_clusters(config.clusters) if config.clusters else None
    arrays = PairArrays.from_pairs(scores)
    _check_queries(config, arrays, clusters)
    bins = margin_bins(arrays.query_index, arrays.margins, config.margin_bins)

    drawn = {config.sampler: draw(build_sampler(config, arrays, clusters), config.batches)}
    # the same seed and number of batches for both sides; a side that is the chosen sampler is its very stream
    if "random" not in drawn:
        drawn["random"] = draw(build_sampler(dataclasses.replace(config, sampler="random"), arrays, clusters), config.batches)
    if "tas-balanced" not in drawn:
        balanced = dataclasses.replace(config, sampler="tas-balanced", clusters_per_batch=config.clusters_per_batch if clusters else 1)
        one_cluster = clusters or dict.fromkeys(arrays.qids, ONE_CLUSTER)
        drawn["tas-balanced"] = draw(build_sampler(balanced, arrays, one_cluster), config.batches)

    balanced_name = NAMES["tas-balanced"] if clusters else f"{NAMES['tas-balanced']} (one cluster)"
    compared = {NAMES["random"]: drawn["random"].ravel(), balanced_name: drawn["tas-balanced"].ravel()}
    title = f"{config.batches} batches of {config.batch_size} pairs from {Path(config.teacher_scores).name}, seed {config.seed}"
    if not clusters:
        title += f"; no clusters file: TAS-Balanced drawn with all {len(arrays.qids)} queries in one cluster"
    labels = [clusters[qid] for qid in arrays.qids] if clusters else None
    usage = cluster_usage(drawn[config.sampler], arrays.query_index, labels) if labels else None

    with atomic_write(out) as handle:
        _write_batches(handle, drawn[config.sampler], scores, arrays, bins, labels)
        # inside the batches' block: a failing plot leaves neither file behind
        sampling_plot(
            plot, {name: arrays.margins[idx] for name, idx in compared.items()}, {name: bins[idx] for name, idx in compared.items()},
            config.margin_bins, cluster_usage=usage, usage_title=f"{NAMES[config.sampler]}: batches each cluster appears in", title=title,
        )
    return {
        "out": str(out),
        "plot": str(plot),
        "batches": config.batches,
        "batch_size": config.batch_size,
        "pairs": len(scores),
        "queries": len(arrays.qids),
        "clusters": len(usage) if usage is not None else None,
        "bin_share": {name: (np.bincount(bins[idx], minlength=config.margin_bins) / len(idx)).tolist() for name, idx in compared.items()},
    }


def build_sampler(config: SampleConfig, arrays: PairArrays, clusters: dict[str, str] | None) -> RandomSampler:
    """``config.sampler`` over ``arrays``; settings that do not fit the data are the user's to fix."""
    try:
        if config.sampler == "random":
            return RandomSampler.from_arrays(arrays, config.batch_size, config.seed)
        if config.sampler == "tas":
            return TASSampler.from_arrays(arrays, clusters, config.batch_size, config.clusters_per_batch, seed=config.seed)
        return TASBalancedSampler.from_arrays(
            arrays, clusters, config.batch_size, config.clusters_per_batch, config.margin_bins, seed=config.seed
        )
    except ValueError as err:
        raise InputError(None, f"{config.sampler} settings that fit {config.teacher_scores}", str(err)) from None


def draw(sampler: RandomSampler, batches: int) -> np.ndarray:
    """The next ``batches`` batches as pair indices, one row each."""
    return np.stack([sampler.next_indices() for _ in range(batches)])


def cluster_usage(indices: np.ndarray, query_index: np.ndarray, labels: list[str]) -> np.ndarray:
    """In how many of the batches (rows of pair ``indices``) each cluster appears, clusters in first-seen order of ``labels``."""
    numbers: dict[str, int] = {}
    query_cluster = np.fromiter((numbers.setdefault(label, len(numbers)) for label in labels), dtype=np.int64, count=len(labels))
    in_batch = np.sort(query_cluster[query_index[indices]], axis=1)
    # a cluster counts once per batch however many of its queries the batch holds
    first = np.ones(in_batch.shape, dtype=bool)
    first[:, 1:] = in_batch[:, 1:] != in_batch[:, :-1]
    return np.bincount(in_batch[first], minlength=len(numbers))


def _write_batches(
    handle: IO[str], indices: np.ndarray, scores: Sequence[ScoredPair], arrays: PairArrays, bins: np.ndarray, labels: list[str] | None
) -> None:
    for number, batch in enumerate(indices.tolist()):
        pairs = []
        for i in batch:
            pair = scores[i]
            query = int(arrays.query_index[i])
            pairs.append({
                "qid": pair.qid,
                "pid_pos": pair.pid_pos,
                "pid_neg": pair.pid_neg,
                "cluster": labels[query] if labels is not None else None,
                # score files are written at 6 decimals: their difference needs no more, and shows no float noise
                "margin": round(float(arrays.margins[i]), 6),
                "bin": int(bins[i]),
            })
        handle.write(json.dumps({"batch": number, "pairs": pairs}) + "\n")


def _check_settings(config: SampleConfig, out: Path, plot: Path) -> None:
    """What can be refused before reading a file."""
    if not config.teacher_scores:
        raise InputError("teacher_scores", "the path of a teacher score file")
    for name in ("batch_size", "batches", "clusters_per_batch", "margin_bins"):
        if getattr(config, name) < 1:
            raise InputError(name, "at least 1", repr(getattr(config, name)))
    if config.sampler != "random" and not config.clusters:
        raise InputError("clusters", f"a clusters file (qid<TAB>cluster, e.g. from tasb cluster) for sampler {config.sampler}", "none")
    if out.resolve() == plot.resolve():
        raise InputError(plot, f"a plot path other than the batches file {out}", str(plot))


def _check_queries(config: SampleConfig, arrays: PairArrays, clusters: dict[str, str] | None) -> None:
    check_sampling_inputs(arrays.qids, config.batch_size, config.teacher_scores, clusters, config.clusters)
