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
