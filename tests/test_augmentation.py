"""Augmentation kernels: flips and crops exact; nearest resize exact against Pillow;
bilinear upscaling, fixed rotations and fixed zooms within 1e-4 (on 0..255 values) of
Pillow, the border included; random rotations are rotations by angles in range; bilinear
downscaling against a numpy loop; determinism by seed and key."""
import numpy as np
import pytest
from PIL import Image

from pydl import _core
from pydl import data as A


def images(rng, n=3, h=9, w=11, c=2):
    return (rng.random((n, h, w, c)) * 255).astype(np.float32)


def pillow(channel, fn):
    """Apply fn to one float channel through Pillow's mode "F"."""
    return np.asarray(fn(Image.fromarray(channel.astype(np.float32), mode="F")), dtype=np.float64)


def test_flip_exact(rng):
    x = images(rng, n=64)
    y = A.RandomFlip("horizontal")(x, seed=3)
    flipped = [np.array_equal(y[i], x[i, :, ::-1]) for i in range(64)]
    kept = [np.array_equal(y[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept))
    assert 16 < sum(flipped) < 48  # about half, 64 fair coins
    yv = A.RandomFlip("horizontal_and_vertical")(x, seed=3)
    for i in range(64):
        assert any(np.array_equal(yv[i], v) for v in (x[i], x[i, ::-1], x[i, :, ::-1], x[i, ::-1, ::-1]))


def test_random_crop_is_a_crop_of_the_padded_image(rng):
    x = images(rng, n=20)
    y = A.RandomCrop((7, 8), padding=2, fill=-1.0)(x, seed=5)
    assert y.shape == (20, 7, 8, 2)
    offsets = set()
    for i in range(20):
        padded = np.pad(x[i], ((2, 2), (2, 2), (0, 0)), constant_values=-1.0)
        hits = [(oy, ox) for oy in range(padded.shape[0] - 6) for ox in range(padded.shape[1] - 7)
                if np.array_equal(padded[oy:oy + 7, ox:ox + 8], y[i])]
        assert hits, f"sample {i} is no crop of its padded image"
        offsets.add(hits[0])
    assert len(offsets) > 5  # offsets vary


def test_center_crop_exact(rng):
    x = images(rng)
    np.testing.assert_array_equal(A.CenterCrop((5, 6))(x), x[:, 2:7, 2:8])


@pytest.mark.parametrize("angle", [17.0, -40.0, 90.0, 0.0])
def test_fixed_rotation_matches_pillow(rng, angle):
    x = images(rng, n=2, h=16, w=13, c=2)
    y = A.RandomRotation((angle, angle), fill=3.0)(x)
    for i in range(2):
        for ch in range(2):
            ref = pillow(x[i, :, :, ch], lambda im: im.rotate(angle, Image.BILINEAR, fillcolor=3.0))
            np.testing.assert_allclose(y[i, :, :, ch], ref, atol=1e-4)  # float32 rounding of 0..255 values


@pytest.mark.parametrize("z", [1.3, 0.8])
def test_fixed_zoom_matches_pillow_affine(rng, z):
    x = images(rng, n=2, h=16, w=13, c=1)
    y = A.RandomZoom(scale=(z, z))(x)
    m = (1 / z, 0, 6.5 - 6.5 / z, 0, 1 / z, 8 - 8 / z)
    for i in range(2):
        ref = pillow(x[i, :, :, 0], lambda im: im.transform((13, 16), Image.AFFINE, m, Image.BILINEAR))
        np.testing.assert_allclose(y[i, :, :, 0], ref, atol=1e-4)


def test_random_rotation_draws_angles_within_range(rng):
    """Each sample's output equals Pillow's rotation by some angle in [-10, 10]."""
    x = images(rng, n=3, h=12, w=12, c=1)
    y = A.RandomRotation(10)(x, seed=9)
    for i in range(3):
        errors = [np.abs(pillow(x[i, :, :, 0], lambda im: im.rotate(a, Image.BILINEAR)) - y[i, :, :, 0]).max()
                  for a in np.linspace(-10, 10, 401)]
        assert min(errors) < 1.0  # within the error of the 0.05-degree grid
    zero = A.RandomRotation(0)(x)
    np.testing.assert_allclose(zero, x, atol=1e-4)


@pytest.mark.parametrize("size", [(18, 22), (30, 7)])
def test_resize_bilinear_upscale_and_nearest_match_pillow(rng, size):
    x = images(rng, n=2, h=9, w=11, c=1)
    h, w = size
    y = A.Resize(h, w, "nearest")(x)
    for i in range(2):
        ref = pillow(x[i, :, :, 0], lambda im: im.resize((w, h), Image.NEAREST))
        np.testing.assert_array_equal(y[i, :, :, 0], ref)
    if h >= 9 and w >= 11:  # Pillow's bilinear antialiases when shrinking; compare upscaling only
        yb = A.Resize(h, w, "bilinear")(x)
        for i in range(2):
            ref = pillow(x[i, :, :, 0], lambda im: im.resize((w, h), Image.BILINEAR))
            np.testing.assert_allclose(yb[i, :, :, 0], ref, atol=1e-3)


def test_resize_bilinear_downscale_against_numpy(rng):
    """Half-pixel bilinear without antialiasing (TensorFlow's), written out in numpy."""
    x = images(rng, n=1, h=10, w=12, c=2)
    y = A.Resize(4, 5)(x)
    src = x[0].astype(np.float64)
    ref = np.zeros((4, 5, 2))
    for oy in range(4):
        for ox in range(5):
            sy, sx = (oy + 0.5) * 10 / 4 - 0.5, (ox + 0.5) * 12 / 5 - 0.5
            y0, x0 = int(np.floor(sy)), int(np.floor(sx))
            dy, dx = sy - y0, sx - x0
            cy = lambda v: min(max(v, 0), 9)
            cx = lambda v: min(max(v, 0), 11)
            top = src[cy(y0), cx(x0)] * (1 - dx) + src[cy(y0), cx(x0 + 1)] * dx
            bot = src[cy(y0 + 1), cx(x0)] * (1 - dx) + src[cy(y0 + 1), cx(x0 + 1)] * dx
            ref[oy, ox] = top * (1 - dy) + bot * dy
    np.testing.assert_allclose(y[0], ref, rtol=1e-5, atol=1e-3)


def test_brightness_and_contrast(rng):
    x = images(rng, n=50)
    y = A.RandomBrightness(0.2)(x, seed=1)
    deltas = (y - x)[(x > 60) & (x < 190)].reshape(-1)  # unclipped pixels
    assert np.all(np.abs(y - np.clip(y, 0, 255)) == 0)
    for i in range(50):
        d = (y[i] - x[i])[(x[i] > 60) & (x[i] < 190)]
        np.testing.assert_allclose(d, d[0], atol=1e-3)  # one delta per image
        assert abs(d[0]) <= 0.2 * 255 + 1e-3
    assert deltas.std() > 1
    yc = A.RandomContrast(0.5, value_range=(-1e9, 1e9))(x, seed=2)
    for i in range(5):
        mean = x[i].mean(axis=(0, 1))
        dev = x[i] - mean
        k = ((yc[i] - mean) / np.where(np.abs(dev) > 1, dev, 1))[np.abs(dev) > 1]  # one scale per image
        assert np.allclose(k, k[0], atol=1e-3) and 0.5 - 1e-4 <= k[0] <= 1.5 + 1e-4


def test_same_seed_same_result_and_keys_make_it_per_sample(rng):
    x = images(rng, n=8)
    t = A.Compose([A.RandomFlip(), A.RandomRotation(20), A.RandomCrop(8, 1), A.RandomBrightness(0.1)])
    np.testing.assert_array_equal(t(x, seed=7), t(x, seed=7))
    assert not np.array_equal(t(x, seed=7), t(x, seed=8))
    # a sample's result depends on its key, not on its neighbours in the batch
    ops = t.ops()
    keys = np.arange(8, dtype=np.uint64) + 100
    full = _core.augment(x, ops, 7, keys)
    part = _core.augment(np.ascontiguousarray(x[3:5]), ops, 7, keys[3:5])
    np.testing.assert_array_equal(full[3:5], part)


def test_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        A.RandomFlip("diagonal")
    with pytest.raises(ValueError, match="does not fit"):
        A.RandomCrop(20)(np.zeros((1, 8, 8, 1)))
    with pytest.raises(ValueError, match=r"\(N, H, W, C\)"):
        A.RandomFlip()(np.zeros((8, 8)))
    with pytest.raises(TypeError, match="Compose"):
        A.Compose([lambda x: x])


def test_an_output_batch_beyond_the_size_limit_is_refused_before_allocation():
    # each resized image (2^48 values) is at the limit; the batch of two is past it
    from pydl import augmentation as A
    x = np.zeros((2, 4, 4, 1), np.float32)
    with pytest.raises(ValueError, match="augment: the output batch"):
        A.Resize(2**24, 2**24)(x)
