"""Figures: a t-SNE of a few query clusters with example queries, like the paper's Figure 1, and what batch samplers draw."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

import numpy as np
from matplotlib import colormaps
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from sklearn.manifold import TSNE

from tasb.fsutil import atomic_write


# the Software text of every PNG tasb draws: how a figure it drew beside a user's files is told from theirs
SOFTWARE = "tasb"


def save_png(figure: Figure, path: str | Path, before_replace: Callable[[], None] | None = None) -> None:
    """Write ``figure`` to ``path`` as a PNG marked as tasb's (whole or not at all).

    ``before_replace`` runs once the PNG is drawn, just before it takes ``path``'s place: raising there keeps
    whatever is at ``path``."""
    with atomic_write(path, "wb") as handle:
        figure.savefig(handle, format="png", metadata={"Software": SOFTWARE})
        if before_replace is not None:
            before_replace()


def drawn_by_tasb(path: str | Path) -> bool:
    """Whether ``path`` is a PNG tasb drew (its Software text is tasb's)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            return image.format == "PNG" and image.info.get("Software") == SOFTWARE
    except (UnidentifiedImageError, Image.DecompressionBombError, OSError):
        return False


def cluster_plot(
    vectors: np.ndarray,
    assignments: np.ndarray,
    texts: Sequence[str],
    path: str | Path,
    clusters: int = 6,
    examples: int = 3,
    seed: int = 0,
    max_points_per_cluster: int = 500,
    title: str = "",
) -> list[int]:
    """Save a PNG of ``clusters`` random non-empty clusters in 2-d t-SNE, each with ``examples`` of its texts; returns the clusters shown."""
    rng = np.random.default_rng(seed)
    present = np.unique(assignments)
    shown = sorted(int(c) for c in rng.choice(present, size=min(clusters, len(present)), replace=False))
    members = []
    for cluster in shown:
        rows = np.flatnonzero(assignments == cluster)
        # a huge cluster would crowd out the others and slow t-SNE down
        members.append(rng.choice(rows, size=min(len(rows), max_points_per_cluster), replace=False))
    points = _tsne(vectors[np.concatenate(members)], seed)

    # a bare Figure on the Agg canvas leaves pyplot's global backend alone and needs no display
    figure = Figure(figsize=(15, 9), dpi=110, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    palette = colormaps["tab10" if len(shown) <= 10 else "tab20"]
    start = 0
    for position, (cluster, rows) in enumerate(zip(shown, members)):
        xy = points[start : start + len(rows)]
        start += len(rows)
        colour = palette(position % palette.N)
        size = int(np.sum(assignments == cluster))
        picked = rng.choice(len(rows), size=min(examples, len(rows)), replace=False)
        # the examples go in the legend: boxes beside the points overlap as soon as clusters lie close
        label = "\n".join([f"cluster {cluster} ({size} queries)", *(f"  · {_shorten(texts[rows[i]])}" for i in picked)])
        axes.scatter(xy[:, 0], xy[:, 1], s=14, color=colour, alpha=0.7, label=label)
        axes.annotate(
            str(cluster), tuple(np.median(xy, axis=0)), ha="center", va="center", fontsize=11, fontweight="bold",
            bbox={"boxstyle": "round,pad=0.2", "facecolor": "white", "edgecolor": colour, "linewidth": 2, "alpha": 0.85},
        )
    axes.set_xticks([])
    axes.set_yticks([])
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False, labelspacing=1.0, markerscale=2)
    axes.set_title(title or f"t-SNE of {len(shown)} random query clusters with example queries")
    save_png(figure, path)
    return shown


def sampling_plot(
    path: str | Path,
    margins: Mapping[str, np.ndarray],
    bins: Mapping[str, np.ndarray],
    num_bins: int,
    cluster_usage: np.ndarray | None = None,
    usage_title: str = "",
    title: str = "",
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Save a PNG of what batch samplers drew, side by side per sampler (the mappings' keys, in order).

    ``margins`` and ``bins`` hold the teacher margin and margin bin (0 to ``num_bins - 1``) of every pair a
    sampler drew: the share of pairs per bin, and a histogram of the margins. ``cluster_usage`` (batches
    each cluster appeared in) adds a third panel with those counts, most used cluster first. ``before_replace``:
    as :func:`save_png`'s.
    """
    names = list(bins)
    figure = Figure(figsize=(6.5 * (3 if cluster_usage is not None else 2), 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.subplots(1, 3 if cluster_usage is not None else 2)
    palette = colormaps["tab10"]
    width = 0.8 / len(names)
    positions = np.arange(num_bins)
    for k, name in enumerate(names):
        share = np.bincount(bins[name], minlength=num_bins) / len(bins[name])
        axes[0].bar(positions + (k - (len(names) - 1) / 2) * width, share, width, color=palette(k), label=name)
    axes[0].axhline(1 / num_bins, color="grey", linestyle="--", linewidth=1, label="uniform")
    axes[0].set_xticks(positions)
    axes[0].set_title("Margin range of the sampled pairs")
    axes[0].set_xlabel(f"margin bin within its query (0: smallest margins, {num_bins - 1}: largest)")
    axes[0].set_ylabel("share of sampled pairs")
    axes[0].legend()

    edges = np.histogram_bin_edges(np.concatenate([margins[name] for name in names]), bins=40)
    for k, name in enumerate(names):
        axes[1].hist(margins[name], bins=edges, histtype="step", linewidth=1.8, color=palette(k), label=name)
    axes[1].set_title("Teacher margin of the sampled pairs")
    axes[1].set_xlabel("margin (score_pos − score_neg)")
    axes[1].set_ylabel("sampled pairs")
    axes[1].legend()

    if cluster_usage is not None:
        usage = np.sort(cluster_usage)[::-1]
        ranks = np.arange(1, len(usage) + 1)
        # thousands of bars merge into noise: many clusters are drawn as a filled curve
        if len(usage) <= 60:
            axes[2].bar(ranks, usage, color=palette(len(names)))
        else:
            axes[2].fill_between(ranks, usage, step="mid", color=palette(len(names)), alpha=0.8)
        axes[2].axhline(usage.mean(), color="grey", linestyle="--", linewidth=1, label=f"mean {usage.mean():.1f}")
        axes[2].set_title(usage_title or "Cluster usage")
        axes[2].set_xlabel("clusters, most used first")
        axes[2].xaxis.set_major_locator(MaxNLocator(integer=True))
        axes[2].set_ylabel("batches it appears in")
        axes[2].legend()
    if title:
        figure.suptitle(title)
    save_png(figure, path, before_replace)


def _tsne(vectors: np.ndarray, seed: int) -> np.ndarray:
    if len(vectors) < 3:  # t-SNE needs perplexity < points; two points are already a 2-d layout
        return np.column_stack([np.arange(len(vectors), dtype=float), np.zeros(len(vectors))])
    perplexity = min(30.0, (len(vectors) - 1) / 3)
    return TSNE(2, perplexity=perplexity, init="pca", random_state=seed).fit_transform(np.asarray(vectors, dtype=np.float32))


def _shorten(text: str, width: int = 60) -> str:
    return textwrap.shorten(" ".join(text.split()), width=width, placeholder="…")


LINE_STYLES = ("-", "--", ":", "-.")
MARKERS = ("o", "s", "^", "D", "v", "P", "X")
# log10 of the sideways step between neighbouring systems' points in a recall figure: ~3.5%
DODGE = 0.015
SEEDED = re.compile(r"^(?P<configuration>.*?)[.\s_-]*seed\s*(?P<seed>\d+)$")


def validation_plot(
    path: str | Path,
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    best: Mapping[str, tuple[int, float]],
    metric: str,
    title: str = "",
    before_replace: Callable[[], None] | None = None,
) -> None:
    """Save a PNG of validation curves: ``curves`` maps a run to its (steps, values), ``best`` to its best (step, value).
    ``before_replace``: as :func:`save_png`'s."""
    save_png(validation_figure(curves, best, metric, title), path, before_replace)


def validation_figure(
    curves: Mapping[str, tuple[Sequence[int], Sequence[float]]],
    best: Mapping[str, tuple[int, float]],
    metric: str,
    title: str = "",
) -> Figure:
    """Runs named ``<configuration>.seed<N>`` are grouped: a configuration's seeds share one line style and colour
    and one legend entry; the colour follows the configuration's first dotted part (a grid's sampler), the line
    style the rest (its teacher), so 16 runs read as a few families rather than 16 pale lines."""
    figure = Figure(figsize=(11, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    groups = _by_configuration(curves)
    colours = _keys_to(sorted({c.split(".")[0] for c in groups}), colormaps["tab10"].colors)
    styles = _keys_to(sorted({c.partition(".")[2] for c in groups}), [(ls, m) for m in MARKERS for ls in LINE_STYLES])
    for configuration, names in groups.items():
        colour = colours[configuration.split(".")[0]]
        style, marker = styles[configuration.partition(".")[2]]
        label = configuration if len(names) == 1 else f"{configuration} ({len(names)} seeds)"
        for number, name in enumerate(names):
            steps, values = curves[name]
            axes.plot(steps, values, color=colour, linestyle=style, marker=marker, markersize=4, linewidth=1.6,
                      label=label if number == 0 else None)
            if name in best:
                axes.plot(*best[name], marker="*", markersize=13, color=colour, markeredgecolor="black", linestyle="none")
    axes.set_xlabel("training step")
    axes.set_ylabel(f"validation {metric}")
    evaluated = sorted({step for steps, _ in curves.values() for step in steps})
    if 0 < len(evaluated) <= 25:
        axes.set_xticks(evaluated)
    else:
        axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)
    # a legend inside the axes hides the curves once there are more than a handful of runs
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    axes.set_title(title or f"Validation {metric} during training (star: best step)")
    return figure


def _by_configuration(names: Iterable[str]) -> dict[str, list[str]]:
    groups: dict[str, list[str]] = {}
    for name in names:
        match = SEEDED.match(name)
        groups.setdefault(match["configuration"] if match else name, []).append(name)
    return groups


def _keys_to(keys: Sequence[str], looks: Sequence) -> dict[str, object]:
    return {key: looks[number % len(looks)] for number, key in enumerate(keys)}


def learning_curve_plot(
    path: str | Path, curves: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]], metric: str, title: str = ""
) -> None:
    """Save a PNG of quality against training minutes: ``curves`` maps a recipe to ``{"validation": (minutes,
    values), "test": (minutes, values)}``; one colour a recipe, solid for validation, dashed for test."""
    figure = Figure(figsize=(10, 6), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    palette = colormaps["tab10"]
    for k, (name, sides) in enumerate(curves.items()):
        for side, style in (("validation", "-"), ("test", "--")):
            if side in sides:
                axes.plot(*sides[side], linestyle=style, marker="o", markersize=3, color=palette(k % palette.N), label=f"{name} ({side})")
    axes.set_xlabel("training minutes")
    axes.set_ylabel(metric)
    axes.grid(alpha=0.3)
    axes.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=9, frameon=False)
    axes.set_title(title or f"{metric} against training time (solid: validation, dashed: test)")
    save_png(figure, path)


def recall_plot(
    path: str | Path, recalls: Mapping[str, Mapping[int, float]], title: str = "", before_replace: Callable[[], None] | None = None
) -> None:
    """Save a PNG of recall at cut-offs (``{system: {cutoff: recall}}``) on a log-x axis, like the paper's Figure 3.
    ``before_replace``: as :func:`save_png`'s."""
    save_png(recall_figure(recalls, title), path, before_replace)


def recall_figure(recalls: Mapping[str, Mapping[int, float]], title: str = "") -> Figure:
    """Systems often tie (a flat index and its fusion, an ANN index and the exact one), so every line keeps
    a way to be seen: its own style and marker, earlier lines wider and below later ones, and each system's
    points dodged a little sideways around the cut-off (a few percent on the log axis)."""
    figure = Figure(figsize=(8, 5.5), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    palette = colormaps["tab10"]
    cutoffs = sorted({cutoff for values in recalls.values() for cutoff in values})
    count = len(recalls)
    for k, (name, values) in enumerate(recalls.items()):
        shown = sorted(values)
        dodge = 10 ** (DODGE * (k - (count - 1) / 2))
        axes.plot(
            [c * dodge for c in shown], [values[c] for c in shown], color=palette(k % palette.N), label=name,
            zorder=2 + k, linestyle=LINE_STYLES[k % len(LINE_STYLES)], marker=MARKERS[k % len(MARKERS)],
            linewidth=1.5 + 0.8 * (count - 1 - k), markersize=6,
        )
    axes.set_xscale("log")
    axes.set_xticks(cutoffs, [str(c) for c in cutoffs])
    axes.minorticks_off()
    axes.set_xlabel("cut-off (log scale)")
    axes.set_ylabel("recall")
    axes.grid(alpha=0.3)
    axes.legend(loc="lower right")
    axes.set_title(title or "Recall at different cut-offs")
    return figure
