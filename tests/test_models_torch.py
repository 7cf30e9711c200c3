"""PyTorch networks with attention: shapes, placement, torchvision compatibility, checkpoints."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from vision_attention import eca_kernel_size
from vision_attention.torch import BAM, CBAM, ECA, SEBlock
from vision_attention.torch.models import (
    ATTENTION_TYPES,
    attention_mobilenet_v2,
    attention_resnet,
    load_pretrained,
    make_attention,
)
from vision_attention.torch.models.mobilenet_v2 import BAM_AFTER, InvertedResidual
from vision_attention.torch.models.resnet import BasicBlock, Bottleneck

IN_BLOCK = {"se": SEBlock, "eca": ECA, "cbam": CBAM}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: these networks are tiny at 64x64, and on a busy 2-core machine
    OpenMP synchronisation between two threads makes each op 10-100x slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


class Zero(nn.Module):
    """Stands in for an attention module: if it sits on the residual branch before the
    addition, a block's output collapses to its shortcut."""

    def forward(self, x):
        return torch.zeros_like(x)


@pytest.fixture(scope="module")
def resnet50s():
    torch.manual_seed(0)
    return {t: attention_resnet(50, t, num_classes=10) for t in ATTENTION_TYPES}


@pytest.fixture(scope="module")
def mobilenets():
    torch.manual_seed(0)
    return {t: attention_mobilenet_v2(t, num_classes=10) for t in ATTENTION_TYPES}


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_resnet50_output_shape(resnet50s, attention_type):
    y = resnet50s[attention_type](torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 10) and torch.isfinite(y).all()


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_resnet18_output_shape(attention_type):
    model = attention_resnet(18, attention_type, num_classes=7).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 7)


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_mobilenet_v2_output_shape(mobilenets, attention_type):
    y = mobilenets[attention_type](torch.randn(2, 3, 64, 64))
    assert y.shape == (2, 10) and torch.isfinite(y).all()


@pytest.mark.parametrize("attention_type", ["se", "eca", "cbam"])
def test_resnet50_has_one_module_per_block(resnet50s, attention_type):
    model = resnet50s[attention_type]
    blocks = [m for m in model.modules() if isinstance(m, Bottleneck)]
    assert len(blocks) == 3 + 4 + 6 + 3
    for block in blocks:
        assert isinstance(block.attention, IN_BLOCK[attention_type])
        assert block.attention.in_channels == block.bn3.num_features
    assert sum(isinstance(m, IN_BLOCK[attention_type]) for m in model.modules()) == 16
    assert model.bam1 is None and model.bam2 is None and model.bam3 is None


def test_resnet50_bam_between_stages(resnet50s):
    model = resnet50s["bam"]
    assert all(block.attention is None for block in model.modules() if isinstance(block, Bottleneck))
    bams = [m for m in model.modules() if isinstance(m, BAM)]
    assert [b.in_channels for b in bams] == [256, 512, 1024]
    assert [model.bam1, model.bam2, model.bam3] == bams
    # bam1 receives layer1's output and layer2 receives bam1's output (and so on).
    seen = {}
    hooks = [getattr(model, n).register_forward_hook(lambda m, i, o, n=n: seen.update({n: (i[0], o)}))
             for n in ("layer1", "bam1", "layer2", "bam2", "layer3", "bam3", "layer4")]
    model.eval()(torch.randn(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    for before, bam, after in (("layer1", "bam1", "layer2"), ("layer2", "bam2", "layer3"),
                               ("layer3", "bam3", "layer4")):
        assert seen[bam][0] is seen[before][1]
        assert seen[after][0] is seen[bam][1]


def test_resnet_no_attention_for_none(resnet50s):
    model = resnet50s["none"]
    assert not any(isinstance(m, (SEBlock, ECA, CBAM, BAM)) for m in model.modules())


@pytest.mark.parametrize("block_cls, args", [(Bottleneck, (256, 64)), (BasicBlock, (64, 64))])
def test_attention_is_before_the_residual_addition(block_cls, args):
    block = block_cls(*args, attention_type="se").eval()
    block.attention = Zero()
    x = torch.randn(1, args[0], 8, 8)
    torch.testing.assert_close(block(x), torch.relu(x))


def test_mobilenet_attention_in_every_inverted_residual(mobilenets):
    for attention_type, cls in IN_BLOCK.items():
        blocks = [m for m in mobilenets[attention_type].modules() if isinstance(m, InvertedResidual)]
        assert len(blocks) == 17
        for block in blocks:
            assert isinstance(block.attention, cls)
            assert block.attention.in_channels == block.out_channels == block.conv[-1].num_features


def test_mobilenet_attention_before_the_residual_addition():
    residual = InvertedResidual(24, 24, 1, 6, "eca").eval()
    plain = InvertedResidual(16, 24, 2, 6, "eca").eval()
    residual.attention = plain.attention = Zero()
    x = torch.randn(1, 24, 8, 8)
    torch.testing.assert_close(residual(x), x)
    assert torch.count_nonzero(plain(torch.randn(1, 16, 8, 8))) == 0


def test_mobilenet_bam_at_stage_transitions(mobilenets):
    model = mobilenets["bam"]
    assert all(b.attention is None for b in model.modules() if isinstance(b, InvertedResidual))
    assert BAM_AFTER == (3, 6, 13)
    for index, bam in zip(BAM_AFTER, (model.bam1, model.bam2, model.bam3)):
        assert bam.in_channels == model.features[index].out_channels
        assert model.features[index + 1].stride == 2  # the next block downsamples
    assert [b.in_channels for b in (model.bam1, model.bam2, model.bam3)] == [24, 32, 96]
    seen = {}
    hooks = [model.features[k].register_forward_hook(lambda m, i, o, k=k: seen.update({k: o}))
             for k in BAM_AFTER]
    hooks += [model.bam1.register_forward_hook(lambda m, i, o: seen.update({"bam1": (i[0], o)}))]
    hooks += [model.features[4].register_forward_hook(lambda m, i, o: seen.update({"f4": i[0]}))]
    model.eval()(torch.randn(1, 3, 64, 64))
    for h in hooks:
        h.remove()
    assert seen["bam1"][0] is seen[3] and seen["f4"] is seen["bam1"][1]


def _check_torchvision_keys(model, reference):
    ours, theirs = model.state_dict(), reference.state_dict()
    assert all(k in ours and ours[k].shape == v.shape for k, v in theirs.items())
    extra = [k for k in ours if k not in theirs]
    assert all(".attention." in k or k.startswith("bam") for k in extra)
    result = model.load_state_dict(theirs, strict=False)
    assert result.unexpected_keys == []
    # load_state_dict does not report BatchNorm's num_batches_tracked as missing.
    assert sorted(result.missing_keys) == sorted(k for k in extra if not k.endswith("num_batches_tracked"))
    return extra


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_resnet50_loads_every_torchvision_weight(resnet50s, attention_type):
    extra = _check_torchvision_keys(resnet50s[attention_type], torchvision.models.resnet50(num_classes=10))
    assert (extra == []) == (attention_type == "none")


@pytest.mark.parametrize("attention_type", ATTENTION_TYPES)
def test_mobilenet_loads_every_torchvision_weight(mobilenets, attention_type):
    reference = torchvision.models.mobilenet_v2(num_classes=10)
    extra = _check_torchvision_keys(mobilenets[attention_type], reference)
    assert (extra == []) == (attention_type == "none")


@pytest.mark.parametrize("ours, theirs", [
    (lambda: attention_resnet(18, num_classes=10), lambda: torchvision.models.resnet18(num_classes=10)),
    (lambda: attention_resnet(50, num_classes=10), lambda: torchvision.models.resnet50(num_classes=10)),
    (lambda: attention_mobilenet_v2(num_classes=10, width_mult=0.5),
     lambda: torchvision.models.mobilenet_v2(num_classes=10, width_mult=0.5)),
])
def test_plain_networks_equal_torchvision(ours, theirs):
    torch.manual_seed(1)
    model, reference = ours().eval(), theirs().eval()
    model.load_state_dict(reference.state_dict())
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_eca_kernel_sizes_follow_the_formula(resnet50s):
    blocks = [m for m in resnet50s["eca"].modules() if isinstance(m, Bottleneck)]
    assert [b.attention.kernel_size for b in blocks] == [eca_kernel_size(b.bn3.num_features) for b in blocks]
    assert sorted({b.attention.kernel_size for b in blocks}) == [5, 7]


@pytest.mark.parametrize("kwargs, name", [
    ({"depth": 42}, "depth"),
    ({"depth": "50"}, "depth"),
    ({"depth": 50.0}, "depth"),
    ({"attention_type": "sk"}, "attention_type"),
    ({"attention_type": None}, "attention_type"),
    ({"num_classes": 0}, "num_classes"),
    ({"num_classes": 10.0}, "num_classes"),
])
def test_resnet_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'") as info:
        attention_resnet(**kwargs)
    assert repr(next(iter(kwargs.values()))) in str(info.value)


@pytest.mark.parametrize("kwargs, name", [
    ({"attention_type": "SE"}, "attention_type"),
    ({"num_classes": -1}, "num_classes"),
    ({"width_mult": 0}, "width_mult"),
])
def test_mobilenet_bad_arguments(kwargs, name):
    with pytest.raises(ValueError, match=f"'{name}'"):
        attention_mobilenet_v2(**kwargs)


def test_make_attention():
    assert make_attention("none", 64) is None and make_attention("bam", 64) is None
    assert isinstance(make_attention("se", 64), SEBlock)
    assert isinstance(make_attention("eca", 64), ECA)
    assert isinstance(make_attention("cbam", 64), CBAM)
    with pytest.raises(ValueError, match="'attention_type'.*'nonlocal'"):
        make_attention("nonlocal", 64)


def test_load_pretrained_round_trip(tmp_path):
    torch.manual_seed(2)
    source = attention_mobilenet_v2("cbam", num_classes=10, width_mult=0.5).eval()
    path = tmp_path / "cbam_mbv2.pt"
    torch.save(source.state_dict(), path)
    target = attention_mobilenet_v2("cbam", num_classes=10, width_mult=0.5).eval()
    x = torch.randn(1, 3, 32, 32)
    assert not torch.equal(source(x), target(x))
    assert load_pretrained(target, path) == []
    assert torch.equal(source(x), target(x))
    for key, value in source.state_dict().items():
        assert torch.equal(value, target.state_dict()[key]), key


def test_load_pretrained_backbone_only(tmp_path):
    path = tmp_path / "torchvision_resnet18.pt"
    torch.save(torchvision.models.resnet18(num_classes=10).state_dict(), path)
    model = attention_resnet(18, "se", num_classes=10)
    with pytest.raises(ValueError, match="lacks .* keys the model has"):
        load_pretrained(model, path)
    missing = load_pretrained(model, path, strict=False)
    assert missing and all(".attention." in k for k in missing)


def test_load_pretrained_errors(tmp_path):
    model = attention_resnet(18, num_classes=10)
    absent = tmp_path / "absent.pt"
    with pytest.raises(FileNotFoundError, match="absent.pt"):
        load_pretrained(model, absent)
    garbage = tmp_path / "garbage.pt"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="garbage.pt.*not a readable"):
        load_pretrained(model, garbage)
    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.zeros(3), tensor_only)
    with pytest.raises(ValueError, match="tensor.pt.*expected a state_dict"):
        load_pretrained(model, tensor_only)
    other = tmp_path / "resnet50.pt"
    torch.save(attention_resnet(50, num_classes=10).state_dict(), other)
    with pytest.raises(ValueError, match="resnet50.pt.*keys the model lacks"):
        load_pretrained(model, other)
    wrong_classes = tmp_path / "classes.pt"
    torch.save(attention_resnet(18, num_classes=5).state_dict(), wrong_classes)
    with pytest.raises(ValueError, match=r"classes.pt.*wrong shape.*fc\.(bias|weight)"):
        load_pretrained(model, wrong_classes, strict=False)
