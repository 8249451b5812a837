"""Augmentation transforms with Keras' conventions (issue 17): ``seed=`` in the constructor,
and the same objects as preprocessing layers inside Sequential and functional models, run
by C++ graph layers: random in fit only (checked by the loss and gradients of a training
forward against every flip assignment, in numpy float64), the identity in predict/evaluate
(against numpy), reproducible and thread-count independent, saved with the model, and
exact adjoints in backward (float64 engine against central differences)."""
import itertools

import numpy as np
import pytest

import pydl
from pydl import _core64, layers
from pydl.data import (CenterCrop, Compose, DataLoader, RandomBrightness, RandomContrast, RandomCrop, RandomFlip,
                       RandomRotation, RandomZoom, Resize)

from conftest import assert_split_iff_threads, assert_weights_equal, numeric_grad, rel_err, split_regions


def images(rng, n, h=6, w=7, c=2, scale=1.0):
    return (rng.random((n, h, w, c)) * scale).astype(np.float32)


RANDOM = [lambda s: RandomFlip("horizontal_and_vertical", seed=s), lambda s: RandomRotation(30, seed=s),
          lambda s: RandomCrop((5, 5), padding=1, seed=s), lambda s: RandomZoom(0.3, seed=s),
          lambda s: RandomBrightness(0.3, value_range=(0, 1), seed=s),
          lambda s: RandomContrast(0.5, value_range=(0, 1), seed=s)]


@pytest.mark.parametrize("make", RANDOM, ids=["flip", "rotation", "crop", "zoom", "brightness", "contrast"])
def test_constructor_seed_is_the_seed_of_the_draws(rng, make):
    x = images(rng, 32)
    a = make(4)(x)
    np.testing.assert_array_equal(a, make(None)(x, seed=4))  # the old way: the call's seed
    np.testing.assert_array_equal(a, make(4)(x))
    assert not np.array_equal(a, make(5)(x))
    np.testing.assert_array_equal(make(4)(x, seed=9), make(None)(x, seed=9))  # a call's seed wins
    assert make(4).get_config()["seed"] == 4


def test_seeded_flip_is_a_per_sample_flip(rng):
    x = images(rng, 64)
    y = RandomFlip("horizontal", seed=4)(x)
    flipped = [np.array_equal(y[i], x[i, :, ::-1]) for i in range(64)]
    kept = [np.array_equal(y[i], x[i]) for i in range(64)]
    assert all(f or k for f, k in zip(flipped, kept, strict=True))
    assert 16 < sum(flipped) < 48


def batches(loader):
    return [xb.copy() for xb, _ in loader]


def test_dataloader_keeps_a_transforms_own_seed(rng):
    x, y = images(rng, 40), np.arange(40) % 2
    seeded = [batches(DataLoader((x, y), batch_size=16, shuffle=False, seed=s,
                                 transform=Compose([RandomFlip(seed=3), RandomRotation(20, seed=8)])))
              for s in (1, 2)]
    unseeded = [batches(DataLoader((x, y), batch_size=16, shuffle=False, seed=s,
                                   transform=Compose([RandomFlip(), RandomRotation(20)]))) for s in (1, 2)]
    assert len(seeded[0]) == len(seeded[1]) == len(unseeded[0]) == 3
    for a, b in zip(seeded[0], seeded[1], strict=True):
        np.testing.assert_array_equal(a, b)  # the loader's seed does not reach seeded transforms
    assert not all(np.array_equal(a, b) for a, b in zip(unseeded[0], unseeded[1], strict=True))
    flips = batches(DataLoader((x, y), batch_size=40, shuffle=False, seed=1, transform=RandomFlip(seed=3)))[0]
    assert all(np.array_equal(flips[i], x[i]) or np.array_equal(flips[i], x[i, :, ::-1]) for i in range(40))


def dense_weights(model):
    return [w for w in model.get_weights()]


def test_random_layers_are_the_identity_in_predict_and_evaluate(rng):
    x, t = images(rng, 10, 8, 8, 1), rng.normal(size=(10, 3)).astype(np.float32)
    aug = pydl.Sequential([layers.Input((8, 8, 1)), RandomFlip(seed=1), RandomRotation(30, seed=2), RandomZoom(0.2),
                           RandomBrightness(0.2, value_range=(0, 1)), RandomContrast(0.3, value_range=(0, 1)),
                           layers.Flatten(), layers.Dense(3)], seed=0)
    aug.compile("sgd", "mse")
    w, b = [a.astype(np.float64) for a in aug.get_weights()]
    ref = x.reshape(10, -1).astype(np.float64) @ w + b
    np.testing.assert_allclose(aug.predict(x), ref, rtol=1e-5, atol=1e-6)
    assert aug.evaluate(x, t)["loss"] == pytest.approx(np.mean((ref - t) ** 2), rel=1e-5)
    assert aug.loss_and_gradients(x, t)[0] == pytest.approx(np.mean((ref - t) ** 2), rel=1e-5)
    train_loss = aug.loss_and_gradients(x, t, training=True)[0]
    assert abs(train_loss - np.mean((ref - t) ** 2)) > 1e-4  # and not in training


def test_crop_resize_and_center_crop_layers_in_predict(rng):
    x = images(rng, 4, 8, 8, 2)
    crop = pydl.Sequential([layers.Input((8, 8, 2)), RandomCrop((6, 5), padding=1, fill=-3.0, seed=0)])
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)), constant_values=-3.0)
    np.testing.assert_array_equal(crop.predict(x), padded[:, 2:8, 2:7])  # the centre of the padded image
    center = pydl.Sequential([layers.Input((8, 8, 2)), CenterCrop((4, 3))])
    np.testing.assert_array_equal(center.predict(x), x[:, 2:6, 2:5])
    nearest = pydl.Sequential([layers.Input((8, 8, 2)), Resize(4, 4, interpolation="nearest")])
    np.testing.assert_array_equal(nearest.predict(x), x[:, 1::2, 1::2])  # centres (2i + 1)


def flip_model(layer_seed, model_seed):
    m = pydl.Sequential([layers.Input((3, 4, 1)), RandomFlip("horizontal", seed=layer_seed), layers.Flatten(),
                         layers.Dense(1, use_bias=False)], seed=model_seed)
    m.compile("sgd", "mse")
    return m


def flip_assignment(model, x, w):
    """Which samples the training forward flipped: the one assignment (of all 2^n) whose
    numpy float64 loss and gradient match the model's."""
    loss, (grad,) = model.loss_and_gradients(x, np.zeros((len(x), 1), np.float32), training=True)
    xs = x.reshape(len(x), -1).astype(np.float64)
    xf = x[:, :, ::-1].reshape(len(x), -1).astype(np.float64)
    hits = []
    for flips in itertools.product((False, True), repeat=len(x)):
        a = np.where(np.array(flips)[:, None], xf, xs)
        out = a @ w
        ref_loss, ref_grad = np.mean(out ** 2), 2 * a.T @ out / len(x)
        if abs(loss - ref_loss) < 1e-5 * ref_loss and rel_err(grad, ref_grad) < 1e-5:
            hits.append(flips)
    assert len(hits) == 1, f"{len(hits)} flip assignments explain the training loss"
    return hits[0]


def test_training_forward_flips_samples_and_a_layer_seed_fixes_which(rng):
    x = images(rng, 8, 3, 4, 1)
    w = rng.normal(size=(12, 1))
    models = {key: flip_model(*key) for key in [(5, 0), (5, 1), (None, 0), (None, 1)]}
    for m in models.values():
        m.set_weights([w.astype(np.float32)])
    got = {key: flip_assignment(m, x, w.astype(np.float32).astype(np.float64)) for key, m in models.items()}
    assert 0 < sum(got[(5, 0)]) < 8
    assert got[(5, 0)] == got[(5, 1)]  # its own seed: the model's does not matter
    assert got[(None, 0)] != got[(None, 1)]  # no seed: the model's decides
    inference, _ = models[(5, 0)].loss_and_gradients(x, np.zeros((8, 1), np.float32))
    assert inference == pytest.approx(np.mean((x.reshape(8, -1) @ w) ** 2), rel=1e-5)


def augmented_cnn(seed=0):
    m = pydl.Sequential([layers.Input((12, 12, 1)), RandomFlip("horizontal", seed=7), RandomRotation(15),
                         layers.Conv2D(4, 3, activation="relu"), RandomCrop((8, 8), padding=1),
                         layers.Flatten(), layers.Dense(3)], seed=seed)
    m.compile("adam", "cross_entropy")
    return m


def test_fit_is_reproducible_and_thread_count_independent(rng, threads):
    x, y = images(rng, 96, 12, 12, 1), rng.integers(0, 3, 96)
    weights = []
    for n in (1, 2):
        pydl.set_num_threads(n)
        before = split_regions()
        m = augmented_cnn()
        m.fit(x, y, epochs=2, batch_size=32, verbose=0)
        assert_split_iff_threads(n, before)
        weights.append(m.get_weights())
    assert_weights_equal(weights[0], weights[1])
    plain = pydl.Sequential([layers.Input((12, 12, 1)), layers.Conv2D(4, 3, activation="relu"),
                             CenterCrop((8, 8)), layers.Flatten(), layers.Dense(3)], seed=0)
    plain.compile("adam", "cross_entropy")
    plain.fit(x, y, epochs=2, batch_size=32, verbose=0)
    assert len(plain.get_weights()) == len(weights[0])
    assert not all(np.array_equal(a, b) for a, b in zip(plain.get_weights(), weights[0], strict=True))


def test_functional_model_saves_and_loads_its_augmentation(rng, tmp_path):
    x, y = images(rng, 16, 8, 8, 2), rng.normal(size=(16, 2)).astype(np.float32)
    inputs = layers.Input((8, 8, 2))
    h = RandomFlip("horizontal_and_vertical", seed=1)(inputs)
    h = layers.Conv2D(3, 3, padding="same")(h)
    h = RandomRotation((-20, 20), fill=0.5, seed=2)(h)
    h = RandomZoom(scale=(0.8, 1.2), seed=3)(h)
    h = Resize(6, 6)(h)
    out = layers.Dense(2)(layers.Flatten()(h))
    model = pydl.Model(inputs, out, seed=0)
    model.compile("adam", "mse")
    model.fit(x, y, epochs=1, batch_size=8, verbose=0)
    path = str(tmp_path / "aug.pydl")
    model.save(path)
    loaded = pydl.load_model(path)
    kinds = [type(l).__name__ for l in loaded.layers]
    assert kinds.count("RandomRotation") == 1 and "RandomZoom" in kinds and "Resize" in kinds
    rot = next(l for l in loaded.layers if isinstance(l, RandomRotation))
    assert rot.get_config() == {"degrees": [-20.0, 20.0], "fill": 0.5, "seed": 2, "name": rot.name}
    np.testing.assert_array_equal(loaded.predict(x), model.predict(x))
    a, b = model.loss_and_gradients(x, y, training=True), loaded.loss_and_gradients(x, y, training=True)
    assert a[0] == b[0]
    assert_weights_equal(a[1], b[1])


# Gradients through augmentation layers placed after a trainable layer: the float64 engine's
# gradient of the convolution's weights against central differences of the training loss.
GRAD_CASES = {
    "flip": RandomFlip("horizontal_and_vertical", seed=1),
    "rotation": RandomRotation(35, fill=0.25, seed=2),
    "zoom": RandomZoom(scale=(0.7, 1.4), seed=3),
    "crop": RandomCrop((5, 6), padding=2, fill=0.5, seed=4),
    "brightness": RandomBrightness(0.2, value_range=(-1.0, 1.0), seed=5),  # some values clip
    "contrast": RandomContrast(0.6, value_range=(-1.0, 1.0), seed=6),
    "resize_bilinear": Resize(4, 9),
    "resize_nearest": Resize(9, 5, interpolation="nearest"),
    "center_crop": CenterCrop((3, 4)),
}


def gradient_check(aug, training):
    rng = np.random.default_rng(0)
    configs = [layers.Conv2D(2, 3, padding="same", name="conv").core_config(), {**aug.core_config(), "name": "aug"},
               layers.Flatten(name="flat").core_config(), layers.Dense(2, name="out").core_config()]
    g = _core64.Graph([[6, 7, 2]], configs, [(i, [i]) for i in range(4)], [4])
    g.init_params(0)
    t = _core64.Trainer(g, [{"loss": "mse"}], {"kind": "adam", "learning_rate": 1e-3})
    x = rng.normal(size=(5, 6, 7, 2))
    targets = rng.normal(size=(5, 2))
    loss = lambda: t.loss_and_gradients(x, None, targets, training=training, seed=11)  # noqa: E731
    first = loss()
    analytic = np.array(g.grad_buffer())
    assert loss() == first  # the same draws every call
    numeric = numeric_grad(loss, g.param_buffer())
    conv = [p for p in g.params() if p["layer"] == "conv"]
    assert len(conv) == 2
    for p in conv:
        sl = slice(p["offset"], p["offset"] + p["size"])
        assert np.linalg.norm(numeric[sl]) > 1e-6, f"{p['name']}: no gradient, the check would show nothing"
        assert rel_err(analytic[sl], numeric[sl]) < 1e-6, p["name"]


@pytest.mark.parametrize("name", sorted(GRAD_CASES))
def test_backward_through_augmentation_matches_central_differences(name):
    gradient_check(GRAD_CASES[name], training=True)


@pytest.mark.parametrize("name", ["flip", "crop"])
def test_backward_in_inference_mode_matches_central_differences(name):
    gradient_check(GRAD_CASES[name], training=False)  # the identity; the centre crop


def test_layers_live_in_pydl_layers_too():
    assert layers.RandomFlip is RandomFlip and layers.Resize is Resize and layers.CenterCrop is CenterCrop
    assert issubclass(RandomFlip, layers.Layer)


def test_bad_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="RandomFlip: expected seed"):
        RandomFlip(seed=-1)
    with pytest.raises(TypeError, match="RandomFlip: expected seed"):
        RandomFlip(seed=1.5)
    with pytest.raises(ValueError, match=r"RandomRotation: expected seed to be None or an int in \[0, 2\*\*63\)"):
        RandomRotation(10, seed=2 ** 63)
    flat = pydl.Sequential([layers.Input((8, 8, 1)), layers.Flatten(), RandomFlip()])
    with pytest.raises(ValueError, match=r"RandomFlip 'random_flip.*': expected images"):
        flat.build()
    big = pydl.Sequential([layers.Input((8, 8, 1)), RandomCrop((12, 12))])
    with pytest.raises(ValueError, match=r"RandomCrop 'random_crop.*': crop of 12x12 does not fit"):
        big.build()
    with pytest.raises(TypeError, match="Sequential|pydl layer"):
        pydl.Sequential([layers.Input((8, 8, 1)), Compose([RandomFlip()])])
    with pytest.raises(TypeError, match="seed goes to the constructor"):
        RandomFlip()(layers.Input((8, 8, 1)), seed=3)
