"""Figures users read: seeds grouped into one look per configuration, and tied recall lines all visible."""

from __future__ import annotations

from tasb.evaluation.plots import recall_figure, validation_figure


def _lines(figure):
    return [line for line in figure.axes[0].get_lines() if line.get_linestyle() != "None"]


def test_seeds_of_a_configuration_share_a_look_and_a_legend_entry_and_ticks_sit_at_the_evaluations():
    steps = [0, 20, 40, 60]
    curves = {
        "random.pairwise.seed42": (steps, [0.60, 0.62, 0.63, 0.64]),
        "tas-balanced.dual.margin-mse.seed42": (steps, [0.60, 0.61, 0.65, 0.66]),
        "tas-balanced.dual.margin-mse.seed43": (steps, [0.60, 0.63, 0.64, 0.65]),
        "tas-balanced.pairwise.seed42": (steps, [0.60, 0.62, 0.62, 0.63]),
    }
    figure = validation_figure(curves, {name: (60, values[-1]) for name, (_, values) in curves.items()}, "nDCG@10")
    looks = [(line.get_color(), line.get_linestyle(), line.get_marker()) for line in _lines(figure)]
    assert looks[1] == looks[2]  # the two seeds of tas-balanced.dual.margin-mse
    assert len({looks[0], looks[1], looks[3]}) == 3
    # colour follows the sampler, line style the teacher
    assert looks[1][0] == looks[3][0] and looks[0][0] != looks[1][0]
    assert looks[0][1] == looks[3][1] and looks[1][1] != looks[3][1]
    labels = [text.get_text() for text in figure.axes[0].get_legend().get_texts()]
    assert labels == ["random.pairwise", "tas-balanced.dual.margin-mse (2 seeds)", "tas-balanced.pairwise"]
    assert list(figure.axes[0].get_xticks()) == steps


def test_tied_recall_lines_each_keep_their_own_style_and_earlier_ones_stay_wider_below():
    same = {10: 0.3, 100: 0.6, 1000: 0.9}
    figure = recall_figure({"BM25": {10: 0.2, 100: 0.5, 1000: 0.9}, "dense": same, "dense+BM25": same, "dense HNSW": same})
    lines = _lines(figure)
    assert len({(line.get_linestyle(), line.get_marker()) for line in lines}) == 4
    assert [line.get_zorder() for line in lines] == sorted(line.get_zorder() for line in lines)
    widths = [line.get_linewidth() for line in lines]
    assert widths == sorted(widths, reverse=True) and widths[1] > widths[2]


def test_tied_recall_points_are_dodged_sideways_around_their_cut_off():
    same = {10: 0.3, 100: 0.6}
    lines = _lines(recall_figure({"dense": same, "dense+BM25": same, "dense HNSW": same}))
    xs = [line.get_xdata() for line in lines]
    assert xs[0][0] < xs[1][0] < xs[2][0] and abs(xs[1][0] - 10) < 1e-9
    assert all(abs(x[0] / 10 - 1) < 0.1 for x in xs)
