"""Tuning benchmark: an MLP on digits (learning rate, width, dropout), 20 trials per method:
random search, Bayesian search, random search with Hyperband pruning, and Optuna's TPE
(when optuna is installed) on the same objective. Reports the best validation accuracy of
each and its wall time."""
import time

import pydl
from pydl import layers, optimizers, tuning

TRIALS, EPOCHS = 20, 12
SPACE = tuning.Space(learning_rate=tuning.Float(1e-4, 1e-1, log=True), units=tuning.Int(16, 256, log=True),
                     dropout=tuning.Float(0.0, 0.5))


def data():
    x, y = pydl.datasets.load_digits()
    x_tr, x_val, y_tr, y_val = pydl.data.train_test_split(x, y, test_size=0.25, seed=0)
    return x_tr, y_tr, x_val, y_val


def build(hp):
    model = pydl.Sequential([layers.Input((64,)), layers.Dense(hp["units"], activation="relu"),
                             layers.Dropout(hp["dropout"]), layers.Dense(10)], seed=0)
    model.compile(optimizer=optimizers.Adam(learning_rate=hp["learning_rate"]), loss="cross_entropy",
                  metrics=["accuracy"])
    return model


def pydl_search(kind, seed=0):
    """(best validation accuracy, seconds) of one search."""
    x_tr, y_tr, x_val, y_val = data()
    cls = tuning.BayesianSearch if kind == "bayesian" else tuning.RandomSearch
    pruner = tuning.Hyperband() if kind == "hyperband" else None
    start = time.perf_counter()
    result = cls(build, SPACE, objective="val_accuracy", max_trials=TRIALS, seed=seed, pruner=pruner).fit(
        x_tr, y_tr, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=64)
    return result.best_score, time.perf_counter() - start


def optuna_search(seed=0):
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    x_tr, y_tr, x_val, y_val = data()

    def objective(trial):
        hp = {"learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-1, log=True),
              "units": trial.suggest_int("units", 16, 256, log=True),
              "dropout": trial.suggest_float("dropout", 0.0, 0.5)}
        h = build(hp).fit(x_tr, y_tr, validation_data=(x_val, y_val), epochs=EPOCHS, batch_size=64, verbose=0,
                          seed=seed * 1_000_003 + trial.number)
        return max(h.history["val_accuracy"])

    start = time.perf_counter()
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed))
    study.optimize(objective, n_trials=TRIALS)
    return study.best_value, time.perf_counter() - start
