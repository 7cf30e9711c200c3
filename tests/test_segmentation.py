"""The segmentation machinery of the Attention U-Net chapter: the Dice + BCE loss on hand-checked
cases, the Otsu baseline, whole-region prediction, attention maps, the training function's
determinism and bookkeeping, the curve readings and the degradation of the harder regime."""

from __future__ import annotations

import math

import numpy as np
import pytest

from vision_attention import segmentation as seg
from vision_attention.metrics import dice_score


@pytest.fixture(scope="module")
def torch(torch_single_thread):
    import torch

    return torch


# --- the loss -----------------------------------------------------------------------------------

def _target(torch):
    t = torch.zeros(2, 1, 4, 5)
    t[0, 0, 1:3, 1:4] = 1  # 6 foreground pixels
    t[1, 0, 0, 0] = 1  # 1 more: k = 7 of n = 40
    return t


def test_perfect_logits_give_a_loss_near_zero(torch):
    target = _target(torch).double()  # float64: in float32 sigmoid(20) rounds to 1
    logits = torch.where(target > 0, 20.0, -20.0).double()
    loss = seg.dice_bce_loss(logits, target)
    # by hand: BCE = log(1 + e^-20) per pixel; p = sigmoid(20) on the k = 7 nuclei pixels and
    # 1 - sigmoid(20) on the 33 others; Dice = (2 k s + 1) / (k s + 33 (1 - s) + k + 1)
    s = 1 / (1 + math.exp(-20))
    bce = math.log1p(math.exp(-20))
    dice = (2 * 7 * s + 1) / (7 * s + 33 * (1 - s) + 7 + 1)
    assert float(loss) == pytest.approx(bce + 1 - dice, rel=1e-4, abs=1e-12)
    assert float(seg.dice_bce_loss(logits.float(), target.float())) < 1e-6


def test_zero_logits_give_ln2_plus_the_dice_of_one_half(torch):
    target = _target(torch)
    logits = torch.zeros_like(target, requires_grad=True)
    loss = seg.dice_bce_loss(logits, target)
    # p = 1/2 everywhere: BCE = ln 2; Dice = (2 * 7 / 2 + 1) / (40 / 2 + 7 + 1) = 8 / 28
    assert float(loss.detach()) == pytest.approx(math.log(2) + 1 - 8 / 28, rel=1e-6)
    loss.backward()
    assert logits.grad is not None and float(logits.grad[target > 0].max()) < 0 < float(logits.grad[target == 0].min())
    only_bce = seg.dice_bce_loss(torch.zeros_like(target), target, dice_weight=0)
    only_dice = seg.dice_bce_loss(torch.zeros_like(target), target, bce_weight=0, smooth=2.0)
    assert float(only_bce) == pytest.approx(math.log(2), rel=1e-6)
    assert float(only_dice) == pytest.approx(1 - (7 + 2) / (20 + 7 + 2), rel=1e-6)


@pytest.mark.parametrize("kwargs, argument", [
    ({"bce_weight": -1.0}, "bce_weight"), ({"dice_weight": True}, "dice_weight"),
    ({"bce_weight": 0, "dice_weight": 0}, "bce_weight"), ({"smooth": 0.0}, "smooth"),
])
def test_dice_bce_loss_rejects_bad_weights(torch, kwargs, argument):
    t = _target(torch)
    with pytest.raises(ValueError, match=rf"^dice_bce_loss: argument.* '{argument}'"):
        seg.dice_bce_loss(t, t, **kwargs)


def test_dice_bce_loss_rejects_bad_tensors(torch):
    t = _target(torch)
    with pytest.raises(ValueError, match=r"^dice_bce_loss: argument 'target' expected the non-empty shape"):
        seg.dice_bce_loss(t, t[:1])
    with pytest.raises(ValueError, match=r"^dice_bce_loss: argument 'logits' expected a floating-point"):
        seg.dice_bce_loss(t.numpy(), t)


# --- Otsu ------------------------------------------------------------------------------------------

def test_otsu_separates_two_grey_levels():
    rng = np.random.default_rng(0)
    truth = rng.uniform(size=(40, 50)) < 0.3
    image = np.where(truth, 0.8, 0.2) + rng.uniform(-0.05, 0.05, truth.shape)  # levels 0.15-0.25, 0.75-0.85
    mask, threshold = seg.otsu_baseline(image)
    assert 0.15 < threshold < 0.85 and mask.dtype == np.float32  # between the two levels
    # Otsu's threshold is a histogram bin's centre (256 bins): with an empty gap between the
    # levels it lands at the top of the dark level, and a pixel or two of that bin may fall above it
    assert dice_score(mask, truth) > 0.99 and np.array_equal(mask, (image > threshold).astype(np.float32))
    fixed, used = seg.otsu_baseline(image, threshold=0.75)
    assert used == 0.75 and np.array_equal(fixed, (image > 0.75).astype(np.float32))
    with pytest.raises(ValueError, match=r"^otsu_baseline: argument 'image' expected at least two grey levels"):
        seg.otsu_baseline(np.ones((4, 4)))
    with pytest.raises(ValueError, match=r"^otsu_baseline: argument 'threshold'"):
        seg.otsu_baseline(image, threshold=float("nan"))
    with pytest.raises(ValueError, match=r"^otsu_baseline: argument 'sigma'"):
        seg.otsu_baseline(image, sigma=-1.0)


def test_smoothing_rescues_otsu_on_a_noisy_image():
    rng = np.random.default_rng(2)
    truth = np.zeros((64, 64), bool)
    truth[16:48, 8:40] = True  # one large square
    noisy = np.where(truth, 0.6, 0.4) + rng.normal(0, 0.15, truth.shape)
    plain = dice_score(seg.otsu_baseline(noisy)[0], truth)
    smoothed = dice_score(seg.otsu_baseline(noisy, sigma=2.0)[0], truth)
    assert plain < 0.85 < 0.95 < smoothed


# --- prediction and attention maps -----------------------------------------------------------------

def test_predict_region_pads_crops_and_matches_a_direct_forward(torch):
    from vision_attention.torch import UNet

    torch.manual_seed(0)
    model = UNet(1, 1, base_channels=2, depth=2)
    model.train()
    image = np.random.default_rng(1).uniform(size=(32, 48)).astype(np.float32)
    prob = seg.predict_region(model, image)
    assert model.training  # restored
    model.eval()
    with torch.no_grad():
        direct = torch.sigmoid(model(torch.from_numpy(image)[None, None]))[0, 0].numpy()
    np.testing.assert_allclose(prob, direct, rtol=0, atol=1e-6)
    odd = seg.predict_region(model, image[:30, :45])  # 30 x 45 is not a multiple of 4: padded, cropped
    assert odd.shape == (30, 45) and 0 <= odd.min() and odd.max() <= 1
    frames = seg.predict_region(model, np.stack([image, image[::-1]]), return_logits=True)
    assert frames.shape == (2, 32, 48)
    np.testing.assert_allclose(torch.sigmoid(torch.from_numpy(frames[0])).numpy(), direct, atol=1e-6)


def test_pad_to_multiple_reflects_and_reports_the_size():
    image = np.arange(12.0).reshape(3, 4)
    padded, size = seg.pad_to_multiple(image, 4)
    assert size == (3, 4) and padded.shape == (4, 4)
    assert np.array_equal(padded[3], image[1])  # reflection about the last row
    with pytest.raises(ValueError, match=r"^pad_to_multiple: argument 'image' expected H, W larger"):
        seg.pad_to_multiple(np.zeros((3, 3)), 8)


def test_attention_maps_of_every_gate_coarsest_first(torch):
    from vision_attention.torch import AttentionUNet, UNet

    for gate in ("seed", "grid"):
        torch.manual_seed(0)
        model = AttentionUNet(1, 1, base_channels=2, depth=2, gate=gate)
        prob, maps = seg.attention_maps(model, np.random.default_rng(0).uniform(size=(16, 24)))
        assert prob.shape == (16, 24) and list(maps) == ["gate1", "gate0"]
        assert maps["gate1"].shape == (8, 12) and maps["gate0"].shape == (16, 24)
        assert all(m.dtype == np.float32 and 0 < m.min() and m.max() < 1 for m in maps.values())
    assert seg.attention_maps(UNet(1, 1, 2, 2), np.zeros((8, 8)))[1] == {}


def test_copy_shared_weights_leaves_only_the_gates(torch):
    from vision_attention.torch import AttentionUNet, UNet

    torch.manual_seed(0)
    unet = UNet(1, 1, base_channels=2, depth=2)
    torch.manual_seed(0)
    att = AttentionUNet(1, 1, base_channels=2, depth=2, gate="grid")
    own = {k: v.clone() for k, v in att.state_dict().items()}
    kept = seg.copy_shared_weights(att, unet)
    assert kept and all(".att_gate." in name for name in kept)
    assert len(kept) == len([n for n in own if ".att_gate." in n])
    for name, value in att.state_dict().items():
        expected = own[name] if name in kept else unet.state_dict()[name]
        assert torch.equal(value, expected), name
    assert not torch.equal(own["head.weight"], unet.state_dict()["head.weight"])  # it did copy
    with pytest.raises(ValueError, match=r"^copy_shared_weights: argument 'source' expected head\.(weight|bias) of shape"):
        seg.copy_shared_weights(att, UNet(1, 2, base_channels=2, depth=2))
    with pytest.raises(ValueError, match=r"^copy_shared_weights: argument 'target' expected a torch.nn.Module"):
        seg.copy_shared_weights({}, unet)


def test_paired_models_share_everything_but_the_gates(torch):
    unet = seg.paired_model("unet", 4, base_channels=2, depth=2)
    again = seg.paired_model("unet", 4, base_channels=2, depth=2)
    assert all(torch.equal(a, b) for a, b in zip(unet.state_dict().values(), again.state_dict().values()))
    for kind in ("seed", "grid"):
        att = seg.paired_model(kind, 4, base_channels=2, depth=2)
        assert att.gate == kind
        shared = {k: v for k, v in att.state_dict().items() if ".att_gate." not in k}
        assert shared.keys() == unet.state_dict().keys()
        assert all(torch.equal(v, unet.state_dict()[k]) for k, v in shared.items())
    with pytest.raises(ValueError, match=r"^paired_model: argument 'kind' expected one of"):
        seg.paired_model("attention", 0)


# --- training ---------------------------------------------------------------------------------------

def _toy_data():
    """Bright discs on a dark, noisy background: tiles 16x16, a 32x48 test region."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[:64, :96]
    mask = np.zeros((64, 96), np.float32)
    for cy, cx in rng.uniform((4, 4), (60, 92), size=(12, 2)):
        mask[(yy - cy) ** 2 + (xx - cx) ** 2 < 16] = 1
    image = (0.2 + 0.6 * mask + rng.normal(0, 0.05, mask.shape)).astype(np.float32)
    from vision_attention.data import random_tiles

    tiles, masks, _ = random_tiles(image[32:], mask[32:], 16, 12, seed=0)
    return (tiles, masks), image[:32, :48], mask[:32, :48]


def _train(model, seed=0, **kwargs):
    tiles, test_image, test_mask = _toy_data()
    settings = {"epochs": 2, "steps_per_epoch": 3, "batch_size": 4, "lr": 1e-2, **kwargs}
    return seg.train_segmentation(model, tiles, test_image, test_mask, seed=seed, **settings)


def test_training_is_deterministic_for_a_seed(torch):
    from vision_attention.torch import AttentionUNet

    build = lambda: AttentionUNet(1, 1, base_channels=2, depth=2, gate="seed")  # noqa: E731
    a, b, c = _train(build, seed=0), _train(build, seed=0), _train(build, seed=1)
    for name in ("train_loss", "step_loss", "test_loss", "test_dice", "test_iou"):
        assert getattr(a, name) == getattr(b, name), name
    assert a.step_loss != c.step_loss
    for (name, p), q in zip(a.model.state_dict().items(), b.model.state_dict().values()):
        assert torch.equal(p, q), name


def test_training_result_bookkeeping(torch, capsys):
    from vision_attention.torch import UNet

    torch.manual_seed(3)
    model = UNet(1, 1, base_channels=2, depth=2)
    expected_parameters = sum(p.numel() for p in model.parameters())
    result = _train(model, progress=True)
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 2 and lines[0].startswith("epoch 1/2: train loss") and "timing" in lines[0]
    assert result.model is model and not model.training
    assert result.parameters == expected_parameters and result.threads == torch.get_num_threads()
    for name in ("train_loss", "test_loss", "test_dice", "test_iou", "epoch_seconds", "eval_seconds"):
        assert len(getattr(result, name)) == 2, name
    assert len(result.step_loss) == 6
    assert result.train_loss[0] == pytest.approx(np.mean(result.step_loss[:3]))
    assert all(s > 0 for s in result.epoch_seconds + result.eval_seconds)
    assert result.final_dice == result.test_dice[-1] and result.final_iou == result.test_iou[-1]
    _, test_image, test_mask = _toy_data()
    predicted = seg.predict_region(model, test_image) > 0.5
    assert result.final_dice == pytest.approx(dice_score(predicted, test_mask))  # scored on the whole region
    assert list(result.history().columns[:4]) == ["train_loss", "test_loss", "test_dice", "test_iou"]


def test_training_learns_the_toy_discs(torch):
    from vision_attention.torch import UNet

    result = _train(lambda: UNet(1, 1, base_channels=4, depth=2), epochs=4, steps_per_epoch=10)
    assert result.train_loss[-1] < result.train_loss[0]
    assert result.final_dice > 0.8


@pytest.mark.parametrize("kwargs, argument", [
    ({"epochs": 0}, "epochs"), ({"lr": 0}, "lr"), ({"seed": -1}, "seed"), ({"augment": 1}, "augment"),
    ({"threshold": 1.0}, "threshold"), ({"progress": "no"}, "progress"), ({"schedule": "linear"}, "schedule"),
])
def test_train_segmentation_rejects_bad_settings(torch, kwargs, argument):
    from vision_attention.torch import UNet

    with pytest.raises(ValueError, match=rf"^train_segmentation: argument '{argument}'"):
        _train(UNet(1, 1, 2, 2), **kwargs)


def test_train_segmentation_rejects_bad_data(torch):
    from vision_attention.torch import UNet

    (tiles, masks), test_image, test_mask = _toy_data()
    model = UNet(1, 1, 2, 2)
    settings = {"epochs": 1, "steps_per_epoch": 1, "batch_size": 2, "lr": 1e-3}
    with pytest.raises(ValueError, match=r"^train_segmentation: argument 'train_tiles' expected tiles whose side"):
        seg.train_segmentation(model, (tiles[:, :14, :14], masks[:, :14, :14]), test_image, test_mask, **settings)
    with pytest.raises(ValueError, match=r"^train_segmentation: argument 'train_tiles' expected masks with values"):
        seg.train_segmentation(model, (tiles, masks * 2), test_image, test_mask, **settings)
    with pytest.raises(ValueError, match=r"^train_segmentation: argument 'test_mask' expected"):
        seg.train_segmentation(model, (tiles, masks), test_image, test_mask[:, :40], **settings)
    with pytest.raises(ValueError, match=r"^train_segmentation: argument 'model' expected"):
        seg.train_segmentation("UNet", (tiles, masks), test_image, test_mask, **settings)


# --- curves and the harder regime ------------------------------------------------------------------

def test_curve_readings_on_hand_cases():
    assert seg.loss_roughness([1.0, 0.5, 0.75]) == pytest.approx(0.375)  # (0.5 + 0.25) / 2
    assert seg.loss_roughness([0.3, 0.3]) == 0.0
    assert seg.epochs_to_reach([0.1, 0.5, 0.96, 0.9, 1.0]) == 3  # first >= 0.95
    assert seg.epochs_to_reach([0.1, 0.5, 0.96, 0.9, 1.0], fraction=0.5) == 2
    with pytest.raises(ValueError, match=r"^loss_roughness: argument 'values'"):
        seg.loss_roughness([1.0])
    with pytest.raises(ValueError, match=r"^epochs_to_reach: argument 'fraction'"):
        seg.epochs_to_reach([0.1, 0.2], fraction=0)


def test_degrade_blurs_adds_seeded_noise_and_keeps_the_shape():
    flat = np.full((64, 64), 0.5, np.float32)
    assert np.allclose(seg.degrade(flat, blur_sigma=2.0), 0.5)  # a blur keeps a constant image
    noisy = seg.degrade(flat, noise_std=0.1, seed=1)
    assert noisy.dtype == np.float32 and abs(float(noisy.std()) - 0.1) < 0.01
    assert np.array_equal(noisy, seg.degrade(flat, noise_std=0.1, seed=1))
    assert not np.array_equal(noisy, seg.degrade(flat, noise_std=0.1, seed=2))
    edge = np.zeros((2, 16, 16), np.float32)
    edge[:, :, 8:] = 1
    blurred = seg.degrade(edge, blur_sigma=1.5)
    assert blurred.shape == (2, 16, 16) and 0 < blurred[0, 0, 7] < 0.5 < blurred[0, 0, 8] < 1
    with pytest.raises(ValueError, match=r"^degrade: argument 'noise_std'"):
        seg.degrade(flat, noise_std=-0.1)
