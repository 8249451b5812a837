"""The ``pydl`` command. ``pydl demo`` trains a small CNN on scikit-learn's digits (a real,
built-in data set), evaluates it on a held-out stratified split and prints a report: first the
data check of the split (``pydl.data.check``), then the training, the scores and the diagnosis.
``pydl info`` prints the version, the CPU features the kernels use, threads and CUDA
availability; ``pydl bench`` times the standard benchmark cases (``pydl.benchmarks``) beside
the installed peers (PyTorch, JAX) and the machine's measured peak FLOP/s; ``pydl --version``
the version."""
from __future__ import annotations

import argparse
import os
import sys
import time


def demo_model(seed: int = 0):
    """The demo's CNN for 8x8x1 digits: two conv blocks, dropout, a dense head."""
    from pydl import Sequential, layers

    return Sequential([
        layers.Input((8, 8, 1)),  # type: ignore[list-item]
        layers.Conv2D(16, 3, padding="same", activation="relu"),
        layers.BatchNormalization(),
        layers.MaxPool2D(),
        layers.Conv2D(32, 3, padding="same", activation="relu"),
        layers.MaxPool2D(),
        layers.Flatten(),
        layers.Dropout(0.2),
        layers.Dense(10),
    ], seed=seed)


def demo(args) -> int:
    import numpy as np

    import pydl
    from pydl import metrics, optimizers

    if args.threads:
        pydl.set_num_threads(args.threads)
    x, y = pydl.datasets.load_digits(as_images=True)
    x_train, x_test, y_train, y_test = pydl.data.train_test_split(x, y, test_size=0.25, stratify=True, seed=0)
    print(f"digits: {len(x_train)} training and {len(x_test)} test images of 8x8 pixels, 10 classes; "
          f"{pydl.get_num_threads()} threads\n")
    data_report = pydl.data.check(x_train, y_train, x_test=x_test, y_test=y_test)
    print(f"{data_report}\n")
    model = demo_model(args.seed)
    model.compile(optimizer=optimizers.Adam(learning_rate=2e-3), loss="cross_entropy", metrics=["accuracy"])
    model.summary()
    start = time.perf_counter()
    history = model.fit(x_train, y_train, epochs=args.epochs, batch_size=32, validation_split=0.1,
                        verbose=2 if args.quiet_progress else 1)
    seconds = time.perf_counter() - start
    scores = model.evaluate(x_test, y_test)
    y_pred = model.predict(x_test).argmax(axis=1)
    print(f"\ntrained {len(history.history['loss'])} epochs in {seconds:.2f} s "
          f"({len(history.history['loss']) * len(x_train) * 0.9 / seconds:,.0f} samples/s)")
    print(f"test loss {scores['loss']:.4f}, test accuracy {scores['accuracy']:.4f}\n")
    print(metrics.classification_report(y_test, y_pred))
    print("\nconfusion matrix (rows: true class, columns: predicted):")
    print(metrics.confusion_matrix(y_test, y_pred, 10))
    print(f"\n{pydl.diagnose(history, data=data_report)}")
    if args.save:
        model.save(args.save)
        reloaded = pydl.load_model(args.save)
        same = np.array_equal(reloaded.predict(x_test), model.predict(x_test))
        print(f"\nsaved to {args.save} (reloaded, predictions identical: {same})")
        try:  # plots need matplotlib, an optional extra
            stem = os.path.splitext(args.save)[0]
            history.plot(stem + "-history.png")
            pydl.report.plot.confusion_matrix(metrics.confusion_matrix(y_test, y_pred, 10), path=stem + "-confusion.png")
            print(f"wrote {stem}-history.png and {stem}-confusion.png")
        except ImportError as e:
            print(f"(no plots: {e})")
    return 0


def info(args) -> int:
    """``pydl info``: the version, CPU features used, GEMM library, threads and CUDA availability."""
    import json

    from . import _sysinfo

    report = _sysinfo.info()
    print(json.dumps(report, indent=2) if args.json else _sysinfo.format_info(report))
    return 0


def bench(args) -> int:
    """``pydl bench``: the chosen cases (all by default), pydl beside each installed peer, the
    pydl/peer speed ratios and each library's share of the measured peak FLOP/s."""
    import json

    from . import benchmarks

    cases = benchmarks.select(args.cases)
    peers = benchmarks.installed_peers()
    repeat = 1 if args.quick else args.repeat
    rows = benchmarks.run(cases, args.threads, repeat=repeat, peak_seconds=0.05 if args.quick else 0.3,
                          peers=peers)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        from .benchmarks.suite import header

        print(header(args.threads, rows[0]["peak_gflops"] * 1e9, peers) + "\n")
        print(benchmarks.format_table(rows, list(peers)))
    return 0


def _bench_args(parser, args) -> None:
    """Checks bench's options and fills the default thread count (argparse errors, exit 2)."""
    from . import _core, benchmarks

    if args.threads is None:
        args.threads = _core.get_num_threads()
    elif not 1 <= args.threads <= _core.max_num_threads():
        parser.error(f"bench: --threads expected 1 to {_core.max_num_threads()} (4x the cores), got {args.threads}")
    if args.repeat is not None and args.repeat < 1:
        parser.error(f"bench: --repeat expected at least 1, got {args.repeat}")
    try:
        benchmarks.select(args.cases)
    except ValueError as e:
        parser.error(f"bench: {e}")


def _version() -> str:
    from . import __version__

    return f"pydl {__version__}"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pydl", description="pydl command line")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", required=True)
    i = sub.add_parser("info", help="version, CPU features used, threads and CUDA availability")
    i.add_argument("--json", action="store_true", help="print the report as JSON")
    i.set_defaults(func=info)
    d = sub.add_parser("demo", help="train and evaluate a CNN on the digits data set")
    d.add_argument("--epochs", type=int, default=25)
    d.add_argument("--seed", type=int, default=0)
    d.add_argument("--threads", type=int, default=0, help="threads (default: all cores)")
    d.add_argument("--save", metavar="PATH", default=os.path.join("pydl-demo", "digits-cnn.pydl"),
                   help="where to save the model; the training curves and confusion matrix go beside it "
                        "(default: %(default)s)")
    d.add_argument("--quiet-progress", action="store_true", help="one line per epoch, no progress bars")
    d.set_defaults(func=demo)
    b = sub.add_parser("bench", help="time the standard cases beside PyTorch and JAX (those installed) "
                                     "and the measured peak FLOP/s")
    b.add_argument("cases", nargs="*", metavar="case",
                   help="cases to run: a name or part of names (default: all; an unknown one lists them)")
    b.add_argument("--threads", type=int, default=None, help="threads for every library (default: pydl's)")
    b.add_argument("--repeat", type=int, default=None,
                   help="timed calls per case and library, best kept (default: the case's own, 3 to 10)")
    b.add_argument("--quick", action="store_true", help="one timed call per case and a short peak probe")
    b.add_argument("--json", action="store_true", help="print a JSON list of rows instead of the table")
    b.set_defaults(func=bench)
    args = parser.parse_args(argv)
    if args.command == "bench":
        _bench_args(b, args)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
