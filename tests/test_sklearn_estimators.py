"""pydl.sklearn: scikit-learn's own estimator checks, accuracy beside scikit-learn's models on
its data sets, the estimator against plain pydl training, routed parameters through clone,
Pipeline and GridSearchCV, cross_val_score in worker processes, and pickling."""
import functools
import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.datasets import load_breast_cancer, load_iris, make_regression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.utils import get_tags
from sklearn.utils.estimator_checks import parametrize_with_checks

import pydl
from pydl import callbacks, layers, optimizers
from pydl.sklearn import PydlClassifier, PydlRegressor, expected_failed_checks

from conftest import assert_weights_equal


# Module level: cross_val_score(n_jobs=2) sends them to worker processes.
def mlp(input_shape, n_outputs, units=16):
    return pydl.Sequential([layers.Input(input_shape), layers.Dense(units, activation="relu"),
                            layers.Dense(n_outputs)], seed=0)


def binary_mlp(input_shape, n_classes, units=16):
    """One sigmoid unit for two classes."""
    assert n_classes == 2
    return pydl.Sequential([layers.Input(input_shape), layers.Dense(units, activation="relu"),
                            layers.Dense(1, activation="sigmoid")], seed=0)


def meta_mlp(meta, units=16):
    return pydl.Sequential([layers.Dense(units, activation="relu"), layers.Dense(meta["n_outputs_"])], seed=0)


class Named:
    """A builder with a stable repr, so the check ids hold no memory addresses."""

    def __init__(self, fn):
        self.fn = fn
        functools.update_wrapper(self, fn)  # its signature is fn's (a meta builder stays one)

    def __call__(self, *args, **kwargs):
        return self.fn(*args, **kwargs)

    def __repr__(self):
        return self.fn.__name__


# ------------------------------------------------------- scikit-learn's checks
# Small batches: the checks' data sets are a few dozen samples. (A model template has a fixed
# number of outputs, so it cannot serve both the binary and the multiclass checks.)
_CHECKED = [
    PydlClassifier(Named(mlp), epochs=30, batch_size=8, model__units=16, optimizer__learning_rate=0.01),
    PydlRegressor(Named(meta_mlp), epochs=30, batch_size=8, model__units=16, optimizer__learning_rate=0.01),
]


@parametrize_with_checks(_CHECKED, expected_failed_checks=expected_failed_checks, xfail_strict=True)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


def test_expected_failed_checks_are_few_and_explained():
    for est in _CHECKED:
        failed = expected_failed_checks(est)
        assert 0 < len(failed) <= 5
        assert all(name.startswith("check_") and isinstance(why, str) and len(why) > 40 for name, why in failed.items())
    with pytest.raises(TypeError, match="PydlClassifier or PydlRegressor"):
        expected_failed_checks(LogisticRegression())


def test_tags():
    clf, reg = get_tags(_CHECKED[0]), get_tags(_CHECKED[1])
    assert clf.estimator_type == "classifier" and reg.estimator_type == "regressor"
    assert clf.target_tags.required and reg.target_tags.required
    assert reg.target_tags.multi_output and not clf.target_tags.multi_output
    assert not clf.input_tags.allow_nan and not clf.input_tags.sparse and not clf.non_deterministic


# ----------------------------------------------------- against scikit-learn
def _split(load):
    X, y = load(return_X_y=True)
    return train_test_split(X, y, test_size=0.3, stratify=y, random_state=0)


@pytest.mark.parametrize("load, build", [(load_iris, mlp), (load_breast_cancer, binary_mlp)])
def test_accuracy_beside_logistic_regression_and_mlp(load, build):
    Xtr, Xte, ytr, yte = _split(load)
    ours = make_pipeline(StandardScaler(), PydlClassifier(build, epochs=60, optimizer__learning_rate=0.01,
                                                          model__units=32)).fit(Xtr, ytr)
    logistic = make_pipeline(StandardScaler(), LogisticRegression()).fit(Xtr, ytr).score(Xte, yte)
    sk_mlp = make_pipeline(StandardScaler(), MLPClassifier(max_iter=2000, random_state=0)).fit(Xtr, ytr).score(Xte, yte)
    score = ours.score(Xte, yte)
    assert score >= min(logistic, sk_mlp) - 0.03, (score, logistic, sk_mlp)
    assert score > 0.9


def test_regression_beside_linear_regression():
    X, y = make_regression(n_samples=300, n_features=5, noise=5.0, random_state=0)
    y = y / y.std()
    Xtr, Xte, ytr, yte = train_test_split(X, y, random_state=0)
    linear = LinearRegression().fit(Xtr, ytr).score(Xte, yte)
    reg = PydlRegressor(mlp, epochs=100, optimizer__learning_rate=0.01).fit(Xtr, ytr)
    assert reg.predict(Xte).shape == (len(Xte),)
    assert reg.score(Xte, yte) > linear - 0.03, (reg.score(Xte, yte), linear)
    # two targets: (n, 2) predictions, each scored like sklearn's r2 on its column
    Y = np.column_stack([y, -2 * y])
    reg2 = PydlRegressor(mlp, epochs=100, optimizer__learning_rate=0.01).fit(X, Y)
    assert reg2.n_outputs_ == 2 and reg2.model_.output_shape == (2,)
    assert reg2.predict(X).shape == (len(X), 2) and reg2.score(X, Y) > 0.95


# ------------------------------------------------- the estimator is pydl training
def test_fit_equals_plain_pydl_training_and_probabilities_are_the_models():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]  # strings through the LabelEncoder
    clf = PydlClassifier(mlp, epochs=15, batch_size=16, model__units=8, optimizer__learning_rate=0.02,
                         metrics=["accuracy"], validation_split=0.2, shuffle=True)
    assert clf.fit(X, labels) is clf

    model = mlp((4,), 3, units=8)
    model.compile(optimizers.Adam(learning_rate=0.02), "cross_entropy", metrics=["accuracy"])
    history = model.fit(X.astype(np.float32), LabelEncoder().fit_transform(labels), epochs=15, batch_size=16,
                        validation_split=0.2, verbose=0)
    assert_weights_equal(clf.model_.get_weights(), model.get_weights())
    assert clf.history_ == history.history and len(clf.history_["val_accuracy"]) == 15

    proba = clf.predict_proba(X)
    np.testing.assert_array_equal(proba, model.predict_proba(X.astype(np.float32)).astype(np.float64))
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-6)
    assert list(clf.classes_) == ["setosa", "versicolor", "virginica"]
    np.testing.assert_array_equal(clf.predict(X), clf.classes_[proba.argmax(axis=1)])
    assert clf.n_features_in_ == 4
    assert clf.score(X, labels) == np.mean(clf.predict(X) == labels)


def test_one_sigmoid_unit_for_two_classes():
    Xtr, Xte, ytr, yte = _split(load_breast_cancer)
    scaler = StandardScaler().fit(Xtr)
    clf = PydlClassifier(binary_mlp, epochs=5, random_state=3).fit(scaler.transform(Xtr), ytr)
    assert clf.model_.get_compile_config()["losses"][0].name == "binary_cross_entropy"
    p = clf.model_.predict(scaler.transform(Xte).astype(np.float32))[:, 0].astype(np.float64)
    proba = clf.predict_proba(scaler.transform(Xte))
    np.testing.assert_array_equal(proba[:, 1], p)
    np.testing.assert_array_equal(proba[:, 0], 1 - p)
    np.testing.assert_array_equal(clf.predict(scaler.transform(Xte)), (p > 0.5).astype(int))


def test_random_state_seeds_weights_and_a_template_is_cloned_fresh():
    X, y = load_iris(return_X_y=True)
    template = mlp((4,), 3)
    before = template.get_weights()
    a = PydlClassifier(template, epochs=3, random_state=7).fit(X, y)
    b = PydlClassifier(template, epochs=3, random_state=7).fit(X, y)
    c = PydlClassifier(template, epochs=3, random_state=8).fit(X, y)
    assert_weights_equal(template.get_weights(), before)  # the template itself is never trained
    assert template.optimizer is None and a.model_ is not template
    assert_weights_equal(a.model_.get_weights(), b.model_.get_weights())
    assert not np.array_equal(a.model_.get_weights()[0], c.model_.get_weights()[0])
    # seed 7 from the start: what a model built with seed=7 and trained with pydl gives
    ref = pydl.Sequential([layers.Input((4,)), layers.Dense(16, activation="relu"), layers.Dense(3)], seed=7)
    ref.compile("adam", "cross_entropy")
    ref.fit(X.astype(np.float32), y, epochs=3, verbose=0)
    assert_weights_equal(a.model_.get_weights(), ref.get_weights())


def test_meta_builder_gets_the_data_description():
    seen = {}

    def build(meta, units=4):
        seen.update(meta, units=units)
        return pydl.Sequential([layers.Dense(units), layers.Dense(meta["n_classes_"])])

    X, y = load_iris(return_X_y=True)
    PydlClassifier(build, epochs=1, model__units=5).fit(X, np.array(["a", "b", "c"])[y])
    assert seen["input_shape"] == (4,) and seen["n_features_in_"] == 4 and seen["n_classes_"] == 3
    assert list(seen["classes_"]) == ["a", "b", "c"] and seen["target_type_"] == "multiclass"
    assert seen["units"] == 5


# ------------------------------------------------------------------ routing
def test_routed_parameters_through_get_params_set_params_and_clone():
    clf = PydlClassifier(mlp, epochs=2, model__units=6, optimizer__learning_rate=0.05)
    params = clf.get_params()
    assert params["model__units"] == 6 and params["optimizer__learning_rate"] == 0.05 and params["epochs"] == 2
    twin = clone(clf)
    assert twin.get_params() == params and twin is not clf
    twin.set_params(model__units=9, optimizer__learning_rate=0.5, loss__label_smoothing=0.1, epochs=1)
    assert clf.get_params()["model__units"] == 6  # the original keeps its own
    X, y = load_iris(return_X_y=True)
    twin.fit(X, y)
    assert twin.model_.layers[0].units == 9
    assert twin.model_.optimizer.learning_rate == pytest.approx(0.5)
    assert twin.model_.get_compile_config()["losses"][0].label_smoothing == pytest.approx(0.1)
    assert "model__units=6" in repr(clf)


def test_grid_search_over_a_pipeline_with_routed_parameters():
    X, y = load_iris(return_X_y=True)
    pipe = Pipeline([("scale", StandardScaler()), ("clf", PydlClassifier(mlp, epochs=20, model__units=4))])
    grid = {"clf__model__units": [2, 16], "clf__optimizer__learning_rate": [1e-3, 3e-2]}
    search = GridSearchCV(pipe, grid, cv=3).fit(X, y)
    assert len(search.cv_results_["params"]) == 4
    assert set(search.best_params_) == set(grid)
    best = search.best_estimator_.named_steps["clf"]
    assert best.model_.layers[0].units == search.best_params_["clf__model__units"]
    assert best.model_.optimizer.learning_rate == pytest.approx(search.best_params_["clf__optimizer__learning_rate"])
    # the best configuration's own 3-fold mean, recomputed by hand
    again = cross_val_score(clone(pipe).set_params(**search.best_params_), X, y, cv=3)
    assert search.best_score_ == pytest.approx(again.mean())


def test_cross_val_score_in_two_worker_processes_equals_serial():
    X, y = load_iris(return_X_y=True)
    pipe = make_pipeline(StandardScaler(), PydlClassifier(mlp, epochs=10, optimizer__learning_rate=0.02))
    serial = cross_val_score(pipe, X, y, cv=3)
    parallel = cross_val_score(pipe, X, y, cv=3, n_jobs=2)
    np.testing.assert_array_equal(parallel, serial)
    assert serial.mean() > 0.85


# ------------------------------------------------------------------ pickling
def test_pickle_carries_the_fitted_model_as_its_model_file_bytes():
    X, y = load_iris(return_X_y=True)
    clf = PydlClassifier(mlp, epochs=5, random_state=1).fit(X, np.array(["x", "y", "z"])[y])
    blob = pickle.dumps(clf)
    back = pickle.loads(blob)
    np.testing.assert_array_equal(back.predict_proba(X), clf.predict_proba(X))
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    assert_weights_equal(back.model_.get_weights(), clf.model_.get_weights())
    from pydl.engine.saving import model_to_bytes

    assert model_to_bytes(clf.model_) in blob  # the safetensors file, not pickled internals
    assert back.model_.optimizer.iterations == clf.model_.optimizer.iterations > 0
    # a pickled template (an unbuilt Sequential) and regressor too
    reg = PydlRegressor(pydl.Sequential([layers.Dense(4), layers.Dense(1)]), epochs=2)
    reg2 = pickle.loads(pickle.dumps(reg)).fit(X, X[:, 0])
    np.testing.assert_array_equal(reg2.predict(X), clone(reg).fit(X, X[:, 0]).predict(X))


# --------------------------------------------------------------- callbacks
def test_callbacks_run_on_a_copy_and_early_stopping_shortens_history():
    X, y = load_iris(return_X_y=True)
    epochs_seen = []
    log = callbacks.LambdaCallback(on_epoch_end=lambda epoch, logs: epochs_seen.append(epoch))
    stop = callbacks.EarlyStopping(monitor="loss", patience=0, min_delta=10.0)
    clf = PydlClassifier(mlp, epochs=20, callbacks=[log, stop]).fit(X, y)
    assert log.model is None and stop.model is None  # the given callbacks stay unbound
    assert len(epochs_seen) == len(clf.history_["loss"]) == 2  # patience 0: stops after the 2nd epoch


# ------------------------------------------------------------------ errors
def test_clear_errors():
    X, y = load_iris(return_X_y=True)
    with pytest.raises(TypeError, match="cannot be called as"):
        PydlClassifier(lambda units: None, model__units=3).fit(X, y)
    with pytest.raises(TypeError, match="returned int"):
        PydlClassifier(lambda shape, n: 3).fit(X, y)
    with pytest.raises(TypeError, match="model must be a function"):
        PydlClassifier().fit(X, y)
    with pytest.raises(ValueError, match="output has 2 units, but y has 3 classes"):
        PydlClassifier(lambda shape, n: mlp(shape, 2)).fit(X, y)
    with pytest.raises(ValueError, match="classification loss"):
        PydlClassifier(mlp, loss="mse").fit(X, y)
    with pytest.raises(ValueError, match="unknown parameters \\['units'\\]"):
        PydlClassifier(mlp, units=3).fit(X, y)
    with pytest.raises(TypeError, match="optimizer__ parameters \\['lr'\\] do not fit Adam"):
        PydlClassifier(mlp, optimizer__lr=0.1).fit(X, y)
    with pytest.raises(ValueError, match="one class"):
        PydlClassifier(mlp).fit(X, np.zeros(len(X)))
    compiled = mlp((4,), 3)
    compiled.compile("adam", "cross_entropy")
    with pytest.raises(ValueError, match="compiled"):
        PydlClassifier(compiled).fit(X, y)
    with pytest.raises(ValueError, match="reach a builder"):
        PydlClassifier(mlp((4,), 3), model__units=3).fit(X, y)
    with pytest.raises(ValueError, match="1 target"):
        PydlRegressor(lambda shape, n: mlp(shape, 2)).fit(X, y)


def test_class_weight_by_label_equals_pydl_class_weight():
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    clf = PydlClassifier(mlp, epochs=5, class_weight={"a": 3.0, "c": 0.5}).fit(X, np.array(["a", "b", "c"])[y])
    ref = mlp((4,), 3)
    ref.compile("adam", "cross_entropy")
    ref.fit(X.astype(np.float32), y, epochs=5, class_weight=[3.0, 1.0, 0.5], verbose=0)
    assert_weights_equal(clf.model_.get_weights(), ref.get_weights())
    with pytest.raises(ValueError, match=r"class_weight names \['nope'\], which are not classes of y"):
        PydlClassifier(mlp, epochs=1, class_weight={"nope": 2.0}).fit(X, np.array(["a", "b", "c"])[y])
    with pytest.raises(ValueError, match="class_weight must be None, 'balanced' or a dict"):
        PydlClassifier(mlp, epochs=1, class_weight="bal").fit(X, y)


def test_categorical_crossentropy_trains_on_one_hot_rows_of_the_labels():
    # one-hot targets and integer labels are the same softmax cross-entropy
    X, y = load_iris(return_X_y=True)
    X = StandardScaler().fit_transform(X)
    one_hot = PydlClassifier(mlp, epochs=5, loss="categorical_crossentropy").fit(X, y)
    labels = PydlClassifier(mlp, epochs=5, loss="cross_entropy").fit(X, y)
    assert one_hot.model_.get_compile_config()["losses"][0].name == "categorical_crossentropy"
    assert_weights_equal(one_hot.model_.get_weights(), labels.model_.get_weights())
