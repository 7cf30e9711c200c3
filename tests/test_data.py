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


@pytest.mark.parametrize("image", [np.zeros((8, 8)), np.zeros((8, 8, 4)), np.zeros((3, 8, 8)),
                                   np.zeros((8, 8, 3), dtype=bool)], ids=["2-D", "4-channels", "CHW", "bool"])
def test_imagenet_normalise_rejects_bad_images(image):
    with pytest.raises(ValueError, match=r"^imagenet_normalise: argument 'image_hwc' expected .*got shape"):
        data.imagenet_normalise(image)


def test_imagenet_categories_offline():
    categories = data.imagenet_categories()
    assert len(categories) == 1000 and len(set(categories)) == 1000
    assert categories[0] == "tench" and categories[285] == "Egyptian cat" and categories[967] == "espresso"
    categories.append("changed")  # a new list each call
    assert len(data.imagenet_categories()) == 1000
