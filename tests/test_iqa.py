"""The IQA chapter's data and criteria: distortions, full-reference scores, the split by
photograph, standardisation, training of the regressors, SRCC and PLCC (against scipy and
hand-made cases), and every error path."""

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from vision_attention import iqa
from vision_attention.metrics import fit_logistic_4, logistic_4, plcc, srcc

RNG = np.random.default_rng(3)


@pytest.fixture(scope="module")
def crop():
    return iqa.reference_crops("coffee")[0]


def test_reference_crops_are_four_distinct_224_crops():
    crops = iqa.reference_crops("chelsea")
    assert crops.shape == (4, 224, 224, 3) and iqa.CROPS_PER_PHOTO <= 4 and crops.dtype == np.float32
    assert 0.0 <= crops.min() and crops.max() <= 1.0
    assert all(not np.allclose(crops[i], crops[j]) for i in range(4) for j in range(i + 1, 4))


def test_every_photograph_is_colour():
    from vision_attention.data import load_image

    for name in iqa.PHOTOGRAPHS:
        image = load_image(name, size=64)
        assert np.abs(image[..., 0] - image[..., 1]).max() > 0.05, name


@pytest.mark.parametrize("kind", list(iqa.DISTORTIONS))
def test_each_distortion_grows_with_its_level(crop, kind):
    errors = [np.abs(iqa.distort(crop, kind, level, seed=1) - crop).mean() for level in range(1, 6)]
    assert all(b > a for a, b in zip(errors, errors[1:])), errors
    out = iqa.distort(crop, kind, 3)
    assert out.shape == crop.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1


def test_distortions_do_what_their_names_say(crop):
    grey = iqa.distort(crop, "saturation", 5)           # factor 0: no colour left
    assert np.abs(grey - grey.mean(axis=2, keepdims=True)).max() < 2 / 255
    flat = iqa.distort(crop, "contrast", 5)
    assert flat.std() < 0.25 * crop.std()
    noisy_a, noisy_b = iqa.distort(crop, "noise", 2, seed=5), iqa.distort(crop, "noise", 2, seed=5)
    assert np.array_equal(noisy_a, noisy_b) and not np.array_equal(noisy_a, iqa.distort(crop, "noise", 2, seed=6))
    from skimage.filters import gaussian

    expected = gaussian(crop, sigma=2.0, channel_axis=-1, preserve_range=True)
    np.testing.assert_allclose(iqa.distort(crop, "blur", 3), np.clip(expected, 0, 1), atol=1e-6)


@pytest.mark.parametrize("bad, match", [
    (dict(kind="rain"), "argument 'kind'"),
    (dict(level=0), "argument 'level' expected an integer from 1 to 5"),
    (dict(level=6), "argument 'level'"),
    (dict(level=2.0), "argument 'level'"),
    (dict(image=np.zeros((8, 8))), "argument 'image' expected a float"),
    (dict(image=np.zeros((8, 8, 3), dtype=np.uint8)), "argument 'image' expected a float"),
])
def test_distort_errors(crop, bad, match):
    args = dict(image=crop, kind="blur", level=1) | bad
    with pytest.raises(ValueError, match=match):
        iqa.distort(args["image"], args["kind"], args["level"])


def test_ms_ssim_is_one_on_the_reference_and_falls_with_blur(crop):
    images = np.stack([crop] + [iqa.distort(crop, "blur", level) for level in range(1, 6)])
    scores = iqa.quality_scores(images, crop, "ms_ssim")
    assert scores.shape == (6,) and scores[0] == pytest.approx(1.0, abs=1e-5)
    assert np.all(np.diff(scores) < 0), scores
    gmsd = iqa.quality_scores(images[:3], crop, "gmsd")    # lower is better
    assert gmsd[0] == pytest.approx(0.0, abs=1e-6) and gmsd[2] > gmsd[1] > gmsd[0]


def test_quality_scores_errors(crop):
    with pytest.raises(ValueError, match="argument 'metric'"):
        iqa.quality_scores(crop[None], crop, "lpips")
    with pytest.raises(ValueError, match="expected \\(N, H, W, 3\\) arrays of one shape"):
        iqa.quality_scores(crop[None], crop[:100])


def _toy_set(n_photos=4, per_photo=6, channels=(3, 5), seed=0):
    rng = np.random.default_rng(seed)
    n = n_photos * per_photo
    photo = np.repeat([f"p{i}" for i in range(n_photos)], per_photo)
    features = [rng.standard_normal((n, c, 2, 2)).astype(np.float32) * (10 ** i) for i, c in enumerate(channels)]
    score = features[0].mean(axis=(1, 2, 3)) + 0.1 * rng.standard_normal(n)
    return iqa.IQASet(features, score, photo, np.arange(n) // 2, np.array(["blur"] * n), np.ones(n, int),
                      "ms_ssim", "mobilenet_v2", tuple(channels), (2, 2))


def test_photo_split_keeps_every_photograph_on_one_side():
    data = _toy_set()
    for seed in range(5):
        train, test = iqa.photo_split(data, 1, seed)
        assert np.all(train ^ test)
        assert not set(data.photo[train]) & set(data.photo[test])
        assert len(set(data.photo[test])) == 1
    assert not np.array_equal(iqa.photo_split(data, 2, 0)[1], iqa.photo_split(data, 2, 1)[1]) or \
        not np.array_equal(iqa.photo_split(data, 2, 0)[1], iqa.photo_split(data, 2, 2)[1])
    for bad in (0, 4, 1.0, True):
        with pytest.raises(ValueError, match="argument 'n_test' expected an integer from 1 to 3"):
            iqa.photo_split(data, bad, 0)


def test_standardise_uses_training_rows_only():
    data = _toy_set()
    train, _ = iqa.photo_split(data, 1, 0)
    out = iqa.standardise(data.features, train)
    for f in out:
        np.testing.assert_allclose(f[train].mean(axis=(0, 2, 3)), 0, atol=1e-5)
        np.testing.assert_allclose(f[train].std(axis=(0, 2, 3)), 1, atol=1e-4)
    assert np.abs(out[1][~train].mean()) > 1e-3     # the test rows were not used
    for bad in (train.astype(int), train[:-1], np.zeros_like(train)):
        with pytest.raises(ValueError, match="argument 'train' expected a boolean mask of shape \\(24,\\)"):
            iqa.standardise(data.features, bad)


def test_training_is_seeded_and_learns():
    data = _toy_set(n_photos=4, per_photo=16)
    train, test = iqa.photo_split(data, 1, 0)
    feats = iqa.standardise(data.features, train)
    a = iqa.train_regressor(feats, data.score, train, fusion="attention", seed=1, steps=300, batch_size=8,
                            lr=3e-3, hidden=8, head_channels=8)
    b = iqa.train_regressor(feats, data.score, train, fusion="attention", seed=1, steps=300, batch_size=8,
                            lr=3e-3, hidden=8, head_channels=8)
    pa, wa = iqa.predict(a, feats, train)
    pb, _ = iqa.predict(b, feats, train)
    np.testing.assert_array_equal(pa, pb)
    assert wa.shape == (train.sum(), 2) and np.allclose(wa.sum(axis=1), 1, atol=1e-6)
    assert a.losses[-1] < a.losses[0]
    assert srcc(pa, data.score[train]) > 0.8
    concat = iqa.train_regressor(feats, data.score, train, fusion="concat", seed=1, steps=10, batch_size=8)
    assert iqa.predict(concat, feats, test)[1] is None
    with pytest.raises(ValueError, match="at least batch_size=64 training rows"):
        iqa.train_regressor(feats, data.score, train, fusion="concat", seed=0, steps=1, batch_size=64)
    with pytest.raises(ValueError, match="argument 'fusion'"):
        iqa.train_regressor(feats, data.score, train, fusion="sum", seed=0, steps=1, batch_size=8)
    with pytest.raises(ValueError, match="predict: argument 'rows' expected a boolean mask"):
        iqa.predict(concat, feats, np.flatnonzero(test))
    with pytest.raises(ValueError, match="argument 'steps'"):
        iqa.train_regressor(feats, data.score, train, fusion="concat", seed=0, steps=0)


def test_build_iqa_set_errors():
    with pytest.raises(ValueError, match="argument 'photos'"):
        iqa.build_iqa_set(())
    with pytest.raises(ValueError, match="argument 'photos'"):
        iqa.build_iqa_set("chelsea")
    with pytest.raises(ValueError, match="argument 'metric'"):
        iqa.build_iqa_set(metric="psnr")
    with pytest.raises(ValueError, match="argument 'backbone'"):
        iqa.build_iqa_set(backbone="swin_t")
    with pytest.raises(ValueError, match="a divisor of every stage size"):
        iqa.build_iqa_set(pool_size=4)


def test_srcc_and_plcc_against_scipy():
    t = RNG.random(60)
    p = np.exp(4 * t) + 0.2 * RNG.standard_normal(60)
    assert srcc(p, t) == pytest.approx(spearmanr(p, t).statistic, abs=1e-12)
    assert plcc(p, t, logistic=False) == pytest.approx(pearsonr(p, t).statistic, abs=1e-12)
    assert plcc(p, t) > plcc(p, t, logistic=False)     # the mapping removes the curvature
    assert srcc(-p, t) == pytest.approx(-srcc(p, t))


def test_logistic_fit_recovers_its_parameters():
    x = np.linspace(-3, 3, 80)
    beta = (2.0, -1.0, 0.5, 0.7)
    fitted = fit_logistic_4(x, logistic_4(x, *beta))
    np.testing.assert_allclose(fitted[:3], beta[:3], atol=1e-4)
    assert abs(fitted[3]) == pytest.approx(0.7, abs=1e-4)
    assert logistic_4(1e6, *beta) == pytest.approx(2.0) and logistic_4(-1e6, *beta) == pytest.approx(-1.0)


@pytest.mark.parametrize("fn", [srcc, plcc])
def test_criteria_errors(fn):
    with pytest.raises(ValueError, match="at least 3 scores"):
        fn([1.0, 2.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="same length"):
        fn([1.0, 2.0, 3.0], [1.0, 2.0, 3.0, 4.0])
    with pytest.raises(ValueError, match="not all equal"):
        fn([1.0, 1.0, 1.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="finite"):
        fn([1.0, np.nan, 3.0], [1.0, 2.0, 3.0])
    with pytest.raises(ValueError, match="1-D"):
        fn(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="real scores"):
        fn(["a", "b", "c"], [1.0, 2.0, 3.0])
