"""Bundled images load offline, with provenance, and the feature maps are well formed."""

from __future__ import annotations

import os

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
