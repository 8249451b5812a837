"""pydl.report.plot: learning curves and confusion matrices rendered to real PNG files."""
import sys

import numpy as np
import pytest

import pydl
from pydl import layers, optimizers
from pydl.report import plot
from pydl.callbacks import History

matplotlib = pytest.importorskip("matplotlib")
import matplotlib.image  # noqa: E402,F811

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.exists() and path.stat().st_size > 1000
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    img = matplotlib.image.imread(str(path))
    assert img.ndim == 3 and img.shape[2] in (3, 4) and img.shape[0] > 100 and img.shape[1] > 100
    return img


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny models: one thread (see conftest)


@pytest.fixture(scope="module")
def history():
    """A real History from a short pydl run (loss, accuracy and their val_ twins)."""
    x, y = pydl.datasets.load_digits()
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(32, activation="relu"), layers.Dense(10)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy", metrics=["accuracy"])
    return model.fit(x[:400], y[:400], epochs=4, batch_size=64, validation_data=(x[400:600], y[400:600]),
                     verbose=0)


def line_labels(ax):
    return [line.get_label() for line in ax.get_lines()]


def test_plot_history_writes_a_png_with_one_subplot_per_metric(history, tmp_path):
    backend = matplotlib.rcParams["backend"]
    path = tmp_path / "history.png"
    fig = plot.plot_history(history, path)
    assert_png(path)
    axes = [ax for ax in fig.axes if ax.get_visible()]
    assert [ax.get_title() for ax in axes] == ["loss", "accuracy"]  # loss first, no val_ prefix
    for ax, name in zip(axes, ["loss", "accuracy"]):
        assert ax.get_ylabel() == name and ax.get_xlabel() == "epoch"
        assert line_labels(ax) == ["train", "validation"]
        train, val = ax.get_lines()
        np.testing.assert_allclose(train.get_ydata(), history.history[name])
        np.testing.assert_allclose(val.get_ydata(), history.history[f"val_{name}"])
        np.testing.assert_array_equal(train.get_xdata(), [1, 2, 3, 4])  # epochs counted from 1
    assert matplotlib.rcParams["backend"] == backend  # nothing global switched


def test_plot_history_selects_metrics_and_accepts_a_dict(tmp_path):
    logs = {"accuracy": [0.5, 0.7, 0.8], "loss": [1.0, 0.6, 0.4], "val_loss": [1.1, 0.8, 0.7], "auc": [0.6, 0.7, 0.8],
            "val_accuracy": [0.4, 0.6, 0.7]}
    fig = plot.plot_history(logs)
    assert [ax.get_title() for ax in fig.axes if ax.get_visible()] == ["loss", "accuracy", "auc"]
    fig = plot.plot_history(logs, metrics=["accuracy"], path=tmp_path / "acc.png")
    assert [ax.get_title() for ax in fig.axes] == ["accuracy"]
    assert_png(tmp_path / "acc.png")
    auc_ax = plot.plot_history(logs, metrics="auc").axes[0]
    assert line_labels(auc_ax) == ["train"]  # no val_auc logged: training curve only
    # Four metrics wrap onto a second row; the spare cell is hidden.
    logs["top5"] = [0.9, 0.95, 0.97]
    fig = plot.plot_history(logs)
    assert len(fig.axes) == 6 and sum(ax.get_visible() for ax in fig.axes) == 4


def test_plot_history_errors():
    with pytest.raises(ValueError, match="expected metrics among"):
        plot.plot_history({"loss": [1.0]}, metrics=["accuracy"])
    with pytest.raises(ValueError, match="empty"):
        plot.plot_history(History())
    with pytest.raises(TypeError, match="History"):
        plot.plot_history([1.0, 2.0])


def test_confusion_matrix_counts_and_rates(tmp_path):
    cm = np.array([[50, 2, 0], [3, 40, 7], [0, 0, 1]])
    path = tmp_path / "cm.png"
    fig = plot.confusion_matrix(cm, class_names=["cat", "dog", "bird"], path=path)
    assert_png(path)
    ax = fig.axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["50", "2", "0", "3", "40", "7", "0", "0", "1"]  # row by row, true class down
    assert ax.get_xlabel() == "predicted" and ax.get_ylabel() == "true"
    assert [t.get_text() for t in ax.get_xticklabels()] == ["cat", "dog", "bird"]

    path = tmp_path / "cm_norm.png"
    fig = plot.confusion_matrix(cm, normalize=True, path=path)
    assert_png(path)
    ax = fig.axes[0]
    assert "normalised" in ax.get_title()
    texts = [t.get_text() for t in ax.texts]
    assert texts[:3] == ["0.96", "0.04", "0.00"] and texts[4] == "0.80" and texts[8] == "1.00"
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1", "2"]


def test_confusion_matrix_from_a_real_model(tmp_path):
    x, y = pydl.datasets.load_digits()
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(10)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=1e-2), loss="cross_entropy")
    model.fit(x[:500], y[:500], epochs=2, batch_size=64, verbose=0)
    pred = model.predict(x[500:800]).argmax(axis=1)
    cm = pydl.metrics.confusion_matrix(y[500:800], pred, num_classes=10)
    fig = plot.confusion_matrix(cm, path=tmp_path / "digits.png")
    assert_png(tmp_path / "digits.png")
    assert sum(int(t.get_text()) for t in fig.axes[0].texts) == 300


def test_confusion_matrix_errors():
    with pytest.raises(ValueError, match="square"):
        plot.confusion_matrix(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-negative"):
        plot.confusion_matrix(np.array([[1, -1], [0, 2]]))
    with pytest.raises(ValueError, match="class_names"):
        plot.confusion_matrix(np.eye(3), class_names=["a", "b"])


def test_missing_matplotlib_says_how_to_install(monkeypatch):
    # None in sys.modules makes `import matplotlib...` raise ImportError, as if not installed.
    for name in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(ImportError, match=r"pip install 'pydl\[plot\]'"):
        plot.plot_history({"loss": [1.0, 0.5]})
    with pytest.raises(ImportError, match=r"pip install 'pydl\[plot\]'"):
        plot.confusion_matrix(np.eye(2))
