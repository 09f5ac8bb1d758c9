"""``tasb sample``: draw batches from a teacher score file, to see what a sampler would feed the trainer.

Writes one JSON line per batch and a PNG comparing Random with TAS-Balanced (paper Fig. 2): which margin
ranges and margins their pairs come from, and in how many batches each cluster appears. Needs only the
score file and the clusters file: no model, no text. A command: it joins sampling and evaluation (the plot),
which do not know each other.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Optional, Sequence

import typer

from tasb.apps.command import tasb_command
from tasb.apps.options import BATCH_SIZE, OUT, RANDOM_SEED, described, option
from tasb.config import AT_LEAST_1, SEED, PairSampling, check_config
from tasb.errors import InputError
from tasb.fsutil import atomic_write
from tasb.outputs import check_side_file

if TYPE_CHECKING:
    import numpy as np

    from tasb.data.records import ScoredPair
    from tasb.sampling import PairArrays

NAMES = {"random": "Random", "tas": "TAS", "tas-balanced": "TAS-Balanced"}
# without a clusters file, TAS-Balanced is compared with every query in this one cluster
ONE_CLUSTER = "all"


@dataclasses.dataclass
class SampleConfig(PairSampling):
    """``tasb sample``: the batches a sampler composes from a teacher score file, written out to inspect."""

    batch_size: int = 32
    batches: int = 100
    seed: int = 42
    out: str = "batches.jsonl"
    # "": <out stem>.png next to ``out``
    plot: str = ""

    limits = {"batch_size": AT_LEAST_1, "batches": AT_LEAST_1, "seed": SEED}
    required = {"teacher_scores": "the path of a teacher score file"}

    @property
    def plot_path(self) -> Path:
        """Where the PNG goes: ``plot``, or ``<out stem>.png`` next to ``out``."""
        return Path(self.plot) if self.plot else Path(self.out).with_suffix(".png")

    def validate(self) -> None:
        """What can be refused before reading a file."""
        super().validate()
        if Path(self.out).resolve() == self.plot_path.resolve():
            raise InputError(self.plot_path, f"a plot path other than the batches file {self.out}", str(self.plot_path))


def run_sampling(config: SampleConfig) -> dict[str, Any]:
    """Draw ``config.batches`` batches into ``config.out`` and the comparison plot (both whole or not at all); returns a summary."""
    import numpy as np

    from tasb.data import read_clusters, read_scores
    from tasb.evaluation import plots
    from tasb.sampling import PairArrays, build_sampler, margin_bins
    from tasb.sampling.checks import check_sampling_inputs
    from tasb.sampling.stats import cluster_usage, draw

    check_config(config)
    out, plot = Path(config.out), config.plot_path

    def check_plot() -> None:
        if not config.plot:  # a plot named with --plot is the user's call, like --out; the one named after --out is not
            check_side_file(plot, plots.drawn_by_tasb, f"--plot puts it elsewhere, or replaces this file when given {plot}")

    check_plot()
    scores = read_scores(config.teacher_scores)
    clusters = read_clusters(config.clusters) if config.clusters else None
    arrays = PairArrays.from_pairs(scores)
    check_sampling_inputs(arrays.qids, config.batch_size, config.teacher_scores, clusters, config.clusters)
    bins = margin_bins(arrays.query_index, arrays.margins, config.margin_bins)

    def drawn_by(settings: SampleConfig, clusters: dict[str, str] | None) -> np.ndarray:
        try:
            sampler = build_sampler(
                settings.sampler, arrays, config.batch_size, config.seed, clusters, settings.clusters_per_batch, config.margin_bins
            )
        except ValueError as err:
            raise InputError(None, f"{settings.sampler} settings that fit {config.teacher_scores}", str(err)) from None
        return draw(sampler, config.batches)

    drawn = {config.sampler: drawn_by(config, clusters)}
    # the same seed and number of batches for both sides; a side that is the chosen sampler is its very stream
    if "random" not in drawn:
        drawn["random"] = drawn_by(dataclasses.replace(config, sampler="random"), clusters)
    if "tas-balanced" not in drawn:
        balanced = dataclasses.replace(config, sampler="tas-balanced", clusters_per_batch=config.clusters_per_batch if clusters else 1)
        drawn["tas-balanced"] = drawn_by(balanced, clusters or dict.fromkeys(arrays.qids, ONE_CLUSTER))

    balanced_name = NAMES["tas-balanced"] if clusters else f"{NAMES['tas-balanced']} (one cluster)"
    compared = {NAMES["random"]: drawn["random"].ravel(), balanced_name: drawn["tas-balanced"].ravel()}
    title = f"{config.batches} batches of {config.batch_size} pairs from {Path(config.teacher_scores).name}, seed {config.seed}"
    if not clusters:
        title += f"; no clusters file: TAS-Balanced drawn with all {len(arrays.qids)} queries in one cluster"
    labels = [clusters[qid] for qid in arrays.qids] if clusters else None
    usage = cluster_usage(drawn[config.sampler], arrays.query_index, labels) if labels else None

    with atomic_write(out) as handle:
        _write_batches(handle, drawn[config.sampler], scores, arrays, bins, labels)
        # inside the batches' block: a failing plot leaves neither file behind. Checked again once drawn: a file put
        # there while the batches or the figure were drawn is as much the user's as one that was there before
        plots.sampling_plot(
            plot, {name: arrays.margins[idx] for name, idx in compared.items()}, {name: bins[idx] for name, idx in compared.items()},
            config.margin_bins, cluster_usage=usage, usage_title=f"{NAMES[config.sampler]}: batches each cluster appears in", title=title,
            before_replace=check_plot,
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


@tasb_command(
    SampleConfig,
    "tasb sample --teacher-scores runs/teacher_scores.tsv --clusters runs/clusters/clusters.tsv --sampler tas-balanced \\\n"
    "    --batches 200 --out runs/batches.jsonl",
    [
        option("teacher_scores", Optional[Path], "--teacher-scores", "score file: score_pos score_neg qid pid_pos pid_neg"),
        option("clusters", Optional[Path], "--clusters", "qid<TAB>cluster (tasb cluster's clusters.tsv); tas and tas-balanced need it"),
        option("sampler", str, "--sampler", "random (eq. 9), tas (eq. 11) or tas-balanced (eq. 13)"),
        described(BATCH_SIZE, "pairs per batch, each of another query"),
        option("batches", int, "--batches", "batches to draw"),
        described(RANDOM_SEED, "the samplers' seed: the same seed draws the same batches"),
        option("clusters_per_batch", int, "--clusters-per-batch", "the paper's n: clusters a batch is drawn from"),
        option("margin_bins", int, "--margin-bins", "the paper's h: margin ranges per query"),
        described(OUT, "JSON lines, one batch each"),
        option("plot", Optional[Path], "--plot", "PNG: Random vs TAS-Balanced margins, cluster usage; default <out stem>.png, over nothing or a plot tasb drew"),
    ],
)
def command(config: SampleConfig) -> None:
    """Draw batches from a teacher score file (no model, no text) into JSON lines, with a plot of Random vs TAS-Balanced."""
    summary = run_sampling(config)
    typer.echo(f"wrote {summary['out']} ({config.batches} batches of {config.batch_size} pairs, {config.sampler}) and {summary['plot']}")
    typer.echo("share of sampled pairs per margin bin (0: smallest margins):")
    for name, shares in summary["bin_share"].items():
        typer.echo(f"  {name:<28}" + " ".join(f"{share:.2f}" for share in shares))
