"""The plotting helpers draw what they claim and reject bad shapes by argument name."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from vision_attention import viz  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _image(height=40, width=60):
    rng = np.random.default_rng(0)
    return rng.random((height, width, 3)).astype(np.float32)


def test_overlay_upsamples_the_map_to_the_image_extent():
    image = _image(40, 60)
    small = np.arange(4 * 6, dtype=np.float32).reshape(4, 6)
    ax = viz.overlay_attention(image, small, alpha=0.4, title="t")
    assert isinstance(ax, matplotlib.axes.Axes)
    base, layer = ax.images
    assert layer.get_array().shape == (40, 60)
    assert layer.get_extent() == base.get_extent() == pytest.approx((-0.5, 59.5, 39.5, -0.5))
    assert layer.get_alpha() == 0.4
    # Bilinear upsampling keeps the map's range and its orientation (top-left small, bottom-right large).
    upsampled = np.asarray(layer.get_array())
    assert upsampled.min() == pytest.approx(0.0) and upsampled.max() == pytest.approx(23.0)
    assert upsampled[0, 0] < upsampled[-1, -1]
    assert ax.get_title() == "t"
    assert len(ax.figure.axes) == 2  # the image axes and its colour bar


@pytest.mark.parametrize(
    "shape", [(1, 1, 7, 7), (1, 7, 7, 1), (7, 7)], ids=["NCHW", "NHWC", "2-D"]
)
def test_overlay_accepts_one_map_in_any_layout(shape):
    ax = viz.overlay_attention(_image(28, 28), np.ones(shape), colorbar=False)
    assert ax.images[1].get_array().shape == (28, 28)
    assert len(ax.figure.axes) == 1


def test_overlay_draws_on_the_given_axes_and_accepts_grey_images():
    _, axes = plt.subplots(1, 2)
    returned = viz.overlay_attention(np.zeros((10, 12)), np.ones((5, 6)), ax=axes[1])
    assert returned is axes[1] and len(axes[0].images) == 0


@pytest.mark.parametrize(
    "image, attention_map, kwargs, argument",
    [
        (np.zeros((10, 10, 2)), np.ones((5, 5)), {}, "'image'"),
        (np.zeros((10,)), np.ones((5, 5)), {}, "'image'"),
        (np.zeros((10, 10, 3)), np.ones((2, 1, 5, 5)), {}, "'attention_map'"),
        (np.zeros((10, 10, 3)), np.ones(5), {}, "'attention_map'"),
        (np.zeros((10, 10, 3)), np.ones((5, 5)), {"alpha": 1.5}, "'alpha'"),
        (np.zeros((10, 10, 3)), np.ones((5, 5)), {"alpha": True}, "'alpha'"),
    ],
)
def test_overlay_rejects_bad_arguments(image, attention_map, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        viz.overlay_attention(image, attention_map, **kwargs)
    assert not plt.get_fignums()  # checked before anything is drawn


def test_channel_weights_one_bar_per_channel_with_labels():
    weights = np.linspace(0.1, 0.9, 6).reshape(1, 6, 1, 1)
    ax = viz.plot_channel_weights(weights, labels=list("abcdef"), title="w")
    assert [p.get_height() for p in ax.patches] == pytest.approx(np.linspace(0.1, 0.9, 6))
    assert [t.get_text() for t in ax.get_xticklabels()] == list("abcdef")
    assert ax.get_title() == "w"


@pytest.mark.parametrize(
    "weights, labels, argument",
    [(np.ones((2, 6)), None, "'weights'"), (np.ones(()), None, None), (np.ones(6), ["a"], "'labels'")],
)
def test_channel_weights_rejects_bad_shapes(weights, labels, argument):
    if argument is None:  # a single channel is valid: one bar
        assert len(viz.plot_channel_weights(weights).patches) == 1
        return
    with pytest.raises(ValueError, match=argument):
        viz.plot_channel_weights(weights, labels=labels)


def test_channel_grid_places_channel_c_at_divmod_c_columns():
    weights = np.arange(6, dtype=float)
    ax = viz.plot_channel_grid(weights, ["r0", "r1"], ["c0", "c1", "c2"], annotate=True)
    grid = np.asarray(ax.images[0].get_array())
    np.testing.assert_array_equal(grid, [[0, 1, 2], [3, 4, 5]])
    assert len(ax.texts) == 6 and len(ax.figure.axes) == 2


def test_channel_grid_rejects_a_grid_of_the_wrong_size():
    with pytest.raises(ValueError, match="'row_labels'/'column_labels'"):
        viz.plot_channel_grid(np.ones(6), ["r0", "r1"], ["c0", "c1"])


def test_vector_and_map_helpers_name_the_argument():
    with pytest.raises(ValueError, match="'w'"):
        viz.as_vector(np.ones((0,)), name="w")
    with pytest.raises(ValueError, match="'m'"):
        viz.as_map(np.ones((3, 3, 3)), name="m")


def test_use_book_style_sets_the_house_style_and_rejects_unknown_formats():
    import matplotlib

    viz.use_book_style()
    assert matplotlib.rcParams["image.cmap"] == "magma"
    assert matplotlib.rcParams["figure.constrained_layout.use"] is True
    with pytest.raises(ValueError, match="argument 'inline_format' expected 'svg'.*got 'jpeg'"):
        viz.use_book_style("jpeg")


def test_overlay_attention_defaults_to_the_fixed_attention_scale():
    import matplotlib.pyplot as plt

    ax = viz.overlay_attention(np.zeros((8, 8)), np.full((2, 2), 0.4))
    layer = ax.images[1]
    assert layer.get_cmap().name == "viridis"
    assert layer.get_clim() == (0.0, 1.0)
    plt.close(ax.figure)


SEED_TREE = ("Need supervision?", [("yes", "CBAM"), ("no", ("Efficiency first?", [("yes", "ECA"), ("no", "SE")]))])


def test_decision_tree_places_answers_left_to_right_and_questions_above_their_children():
    ax = viz.plot_decision_tree(SEED_TREE, notes=[("supported", "measured"), None, ("not measured", "n/a")])
    where = {t.get_text(): t.get_position() for t in ax.texts}
    # answers at x = 0, 1, 2 in the order given; a question at the mean x of its children
    assert where["CBAM"][0] == 0 and where["ECA"][0] == 1 and where["SE"][0] == 2
    assert where["Efficiency first?"] == (1.5, -1)
    assert where["Need supervision?"] == (0.75, 0)
    assert where["ECA"][1] == where["SE"][1] == -2 and where["CBAM"][1] == -1
    notes = [t for t in ax.texts if t.get_text().startswith(("supported", "not measured"))]
    assert len(notes) == 2  # None draws no note
    assert notes[0].get_bbox_patch().get_edgecolor()[:3] == pytest.approx(
        matplotlib.colors.to_rgb(viz.VERDICT_COLOURS["supported"]))
    assert {t.get_text() for t in ax.texts} >= {"yes", "no"}
    plt.close(ax.figure)


@pytest.mark.parametrize("tree, notes, message", [
    (("Q?", []), None, r"tree"),
    (("Q?", [("yes", 3)]), None, r"tree\[1\]\[0\]\[1\]"),
    (("Q?", ["yes"]), None, r"tree\[1\]\[0\]"),
    (SEED_TREE, [None, None], r"'notes' expected 3"),
    (SEED_TREE, [("proven", "x"), None, None], r"'notes'\[0\]"),
])
def test_decision_tree_rejects_bad_trees_and_notes(tree, notes, message):
    with pytest.raises(ValueError, match=message):
        viz.plot_decision_tree(tree, notes=notes)
