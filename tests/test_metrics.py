"""Mask IoU, the pointing game and mask resizing on small hand-made examples (the expected
values are worked out by hand in the comments), plus PyTorch's resizing as an independent
reference."""

from __future__ import annotations

import numpy as np
import pytest

from vision_attention.metrics import dice_score, iou_score, mask_iou, pointing_chance, pointing_game, resize_masks


def _mask(rows: list[str]) -> np.ndarray:
    """A (1, H, W) mask from strings of '#' (object) and '.' (background)."""
    return np.array([[c == "#" for c in row] for row in rows], np.float64)[None]


# A 4x4 mask on a 2x2 grid: every cell is a 2x2 block.
MASK = _mask(["##.#",
              "##..",
              "....",
              ".#.."])
# cell (0, 0): 4 of 4 pixels -> 1.0; cell (0, 1): 1 of 4 -> 0.25;
# cell (1, 0): 1 of 4 -> 0.25;       cell (1, 1): 0 of 4 -> 0.0.


def test_area_resize_is_the_covered_fraction_of_each_cell():
    np.testing.assert_array_equal(resize_masks(MASK, 2), [[[1.0, 0.25], [0.25, 0.0]]])


def test_nearest_resize_samples_the_top_left_pixel_of_each_cell():
    # pixels (0, 0), (0, 2), (2, 0), (2, 2): '#', '.', '.', '.'
    np.testing.assert_array_equal(resize_masks(MASK, (2, 2), mode="nearest"), [[[1.0, 0.0], [0.0, 0.0]]])
    # a one-pixel-wide stroke in column 1 vanishes: the samples are columns 0 and 2
    stroke = _mask([".#..", ".#..", ".#..", ".#.."])
    assert resize_masks(stroke, 2, mode="nearest").max() == 0
    np.testing.assert_array_equal(resize_masks(stroke, 2), [[[0.5, 0.0], [0.5, 0.0]]])


def test_area_resize_when_the_grid_does_not_divide_the_mask():
    # H = 3 rows onto h = 2 cells: cell 0 = rows [0, 2), cell 1 = rows [1, 3) (adaptive pooling)
    column = _mask(["#", ".", "#"])
    np.testing.assert_array_equal(resize_masks(column, (2, 1)), [[[0.5], [0.5]]])
    column = _mask(["#", "#", "."])
    np.testing.assert_array_equal(resize_masks(column, (2, 1)), [[[1.0], [0.5]]])


def test_resizing_agrees_with_pytorch():
    import torch
    import torch.nn.functional as F

    rng = np.random.default_rng(0)
    masks = (rng.random((3, 50, 37)) < 0.3).astype(np.float64)
    t = torch.from_numpy(masks)[:, None]
    for size in [(7, 7), (5, 9), (50, 37)]:
        for mode in ("area", "nearest"):
            expected = F.interpolate(t, size=size, mode=mode)[:, 0].numpy()
            np.testing.assert_allclose(resize_masks(masks, size, mode=mode), expected, rtol=0, atol=1e-12)


def test_mask_iou_by_hand():
    # object cells (area >= 0.5): only (0, 0).
    maps = np.array([[[0.9, 0.2], [0.6, 0.1]]])
    # attended (>= 0.5): (0, 0), (1, 0) -> intersection 1, union 2
    np.testing.assert_array_equal(mask_iou(maps, MASK), [0.5])
    # attended (>= 0.7): (0, 0) only -> 1 / 1
    np.testing.assert_array_equal(mask_iou(maps, MASK, threshold=0.7), [1.0])
    # attended (>= 0.95): none -> 0 / 1
    np.testing.assert_array_equal(mask_iou(maps, MASK, threshold=0.95), [0.0])
    # attended everywhere (>= 0): 1 / 4
    np.testing.assert_array_equal(mask_iou(maps, MASK, threshold=0.0), [0.25])


def test_mask_iou_half_covered_cell_counts_and_empty_union_is_nan():
    half = _mask(["#...", "#...", "....", "...."])  # cell (0, 0) half covered -> object
    nothing = _mask(["....", "....", "....", "...#"])  # 1 of 4 pixels -> no object cell
    maps = np.array([[[1.0, 0.0], [0.0, 0.0]], [[0.0, 0.0], [0.0, 0.0]]])
    iou = mask_iou(maps, np.concatenate([half, nothing]))
    assert iou[0] == 1.0 and np.isnan(iou[1])


def test_pointing_game_by_hand():
    maps = np.array([[[0.1, 0.2], [0.9, 0.3]],     # maximum in cell (1, 0): rows 2-3, cols 0-1
                     [[0.1, 0.8], [0.2, 0.3]],     # maximum in cell (0, 1): rows 0-1, cols 2-3
                     [[0.0, 0.0], [0.0, 0.0]]])    # a tie everywhere: cell (0, 0)
    masks = np.concatenate([
        _mask(["....", "....", "....", ".#.."]),   # one pixel at (3, 1), inside cell (1, 0): hit
        _mask(["#...", "....", "....", "...."]),   # only in cell (0, 0): miss
        _mask(["....", ".#..", "....", "...."]),   # (1, 1) is in cell (0, 0): hit
    ])
    np.testing.assert_array_equal(pointing_game(maps, masks), [True, False, True])
    # any scale: only where the maximum is matters
    np.testing.assert_array_equal(pointing_game(10 * maps - 3, masks), [True, False, True])


def test_pointing_game_cells_overlap_where_the_grid_does_not_divide():
    # H = 3 onto h = 2: row 1 belongs to cell 0 ([0, 2)) and to cell 1 ([1, 3))
    maps = np.array([[[0.0], [1.0]], [[1.0], [0.0]]])
    masks = np.concatenate([_mask([".", "#", "."]), _mask([".", ".", "#"])])
    np.testing.assert_array_equal(pointing_game(maps, masks), [True, False])


def test_pointing_chance_by_hand():
    # MASK touches cells (0, 0), (0, 1), (1, 0) of 4
    np.testing.assert_array_equal(pointing_chance(MASK, 2), [0.75])
    np.testing.assert_array_equal(pointing_chance(MASK, 4), [6 / 16])


@pytest.mark.parametrize("call, argument", [
    (lambda: mask_iou(np.zeros((1, 2)), MASK), "maps"),
    (lambda: mask_iou(np.full((1, 2, 2), 1.5), MASK), "maps"),
    (lambda: mask_iou(np.full((1, 2, 2), np.nan), MASK), "maps"),
    (lambda: mask_iou(np.zeros((1, 2, 2)), 0.5 * MASK), "masks"),
    (lambda: mask_iou(np.zeros((2, 2, 2)), MASK), "masks"),
    (lambda: mask_iou(np.zeros((1, 8, 8)), MASK), "masks"),
    (lambda: mask_iou(np.zeros((1, 2, 2)), MASK, threshold=2), "threshold"),
    (lambda: mask_iou(np.zeros((1, 2, 2)), MASK, threshold=True), "threshold"),
    (lambda: pointing_game(np.array([["a"]]), MASK), "maps"),
    (lambda: pointing_game(np.zeros((1, 2, 2)), MASK[0]), "masks"),
    (lambda: resize_masks(MASK, 0), "size"),
    (lambda: resize_masks(MASK, (8, 2)), "size"),
    (lambda: resize_masks(MASK, 2, mode="bilinear"), "mode"),
    (lambda: pointing_chance(MASK, (2, 2.0)), "size"),
])
def test_bad_arguments_name_the_function_and_the_argument(call, argument):
    with pytest.raises(ValueError, match=rf"^\w+: argument '{argument}' expected .*, got "):
        call()


# --- Dice and IoU of binary segmentation masks, against scikit-learn ---------------------------


def _random_masks(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Eight pairs of 17x19 masks of different densities (sparse to dense), plus an empty pair
    and an empty prediction for a non-empty target."""
    rng = np.random.default_rng(seed)
    density = np.linspace(0.05, 0.9, 8)[:, None, None]
    target = rng.uniform(size=(8, 17, 19)) < density
    pred = np.where(rng.uniform(size=target.shape) < 0.8, target, ~target)  # 20 % of pixels flipped
    empty = np.zeros((1, 17, 19), bool)
    return np.concatenate([pred, empty, empty]), np.concatenate([target, empty, target[:1]])


def test_dice_is_sklearns_f1_and_iou_its_jaccard_per_image():
    from sklearn.metrics import f1_score, jaccard_score

    pred, target = _random_masks()
    dice, iou = dice_score(pred, target), iou_score(pred, target)
    assert dice.shape == iou.shape == (10,) and dice.dtype == iou.dtype == np.float64
    for i in range(10):  # zero_division=1.0: empty against empty is a perfect 1
        f1 = f1_score(target[i].ravel(), pred[i].ravel(), zero_division=1.0)
        jaccard = jaccard_score(target[i].ravel(), pred[i].ravel(), zero_division=1.0)
        assert dice[i] == pytest.approx(f1, abs=1e-12) and iou[i] == pytest.approx(jaccard, abs=1e-12)
    assert dice[8] == iou[8] == 1.0 and dice[9] == iou[9] == 0.0
    assert 0.2 < dice[:8].min() < dice[:8].max() < 0.95  # the cases are not trivial


def test_dice_and_iou_of_one_image_are_floats_and_take_numbers_0_and_1():
    pred, target = _random_masks(1)
    d = dice_score(pred[3].astype(np.float32), target[3].astype(np.uint8))
    assert isinstance(d, float) and d == pytest.approx(dice_score(pred, target)[3])
    i = iou_score(pred[3], target[3])
    assert isinstance(i, float) and i == pytest.approx(d / (2 - d))  # IoU = D / (2 - D)
    # a hand case: P = 3 pixels, T = 2 pixels, 1 shared -> Dice 2/5, IoU 1/4
    p = np.array([[1, 1, 1, 0]])
    t = np.array([[1, 0, 0, 1]])
    assert dice_score(p, t) == pytest.approx(0.4) and iou_score(p, t) == pytest.approx(0.25)


@pytest.mark.parametrize("function", [dice_score, iou_score])
@pytest.mark.parametrize("pred, target, argument, message", [
    (np.full((4, 4), 0.5), np.zeros((4, 4)), "pred", "other values such as"),
    (np.zeros((4, 4)), np.full((4, 4), 2), "target", "other values such as"),
    (np.zeros((4, 4)), np.zeros((4, 5)), "target", "the shape of 'pred'"),
    (np.zeros(4), np.zeros(4), "pred", "got shape"),
    (np.zeros((1, 1, 4, 4)), np.zeros((1, 1, 4, 4)), "pred", "got shape"),
    (np.array([["a"]]), np.zeros((1, 1)), "pred", "got dtype"),
])
def test_dice_and_iou_reject_bad_masks(function, pred, target, argument, message):
    with pytest.raises(ValueError, match=rf"^{function.__name__}: argument '{argument}' expected .*{message}"):
        function(pred, target)
