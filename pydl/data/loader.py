"""Datasets and the DataLoader.

``ArrayDataset(x, y)`` wraps in-memory arrays (``DataLoader((x, y))`` and ``DataLoader((x,))``
build it for you); any object with ``__len__`` and
``__getitem__(i) -> (x_i, y_i)`` is a map-style dataset too. ``DataLoader`` batches a
dataset, shuffles it each epoch and applies training-time transforms. For array datasets
the gather, uint8 -> float32 conversion and augmentation run in C++ on a background thread
(GIL released) while the previous batch trains; an epoch's batches depend on the seed and
the epoch number alone, never on ``prefetch_factor``.
"""
from __future__ import annotations

from typing import Iterator, Optional, Tuple

import numpy as np

from .. import _checks, _core, _deprecation, _validate
from .transforms import Transform

__all__ = ["Dataset", "ArrayDataset", "DataLoader"]


class Dataset:
    """Map-style dataset protocol: ``len(ds)`` samples, ``ds[i] -> (x_i, y_i)``."""

    def __len__(self) -> int:
        raise NotImplementedError

    def __getitem__(self, i):
        raise NotImplementedError


class ArrayDataset(Dataset):
    """In-memory arrays with a leading sample axis; ``x`` uint8 stays uint8 until batching."""

    def __init__(self, x, y=None):
        x = np.asarray(x)
        if x.ndim < 1 or len(x) == 0:
            raise ValueError("ArrayDataset: x is empty")
        if y is not None:
            y = np.asarray(y)
            if len(y) != len(x):
                raise ValueError(f"ArrayDataset: x and y have different lengths: {len(x)} vs {len(y)}")
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], (None if self.y is None else self.y[i])


def _as_dataset(dataset):
    """A tuple ``(x, y)`` or ``(x,)`` of arrays as an ArrayDataset (what Keras and tf.data
    users pass); datasets pass through. A tuple is never read as a dataset of
    samples: a dataset of samples is a list or a Dataset."""
    if isinstance(dataset, np.ndarray):
        # Refused rather than guessed: a bare array carries no targets, and fit(loader) would
        # only fail later. (x,) says "batches of x alone" explicitly.
        raise TypeError("DataLoader: got a bare array; pass (x, y) (or ArrayDataset(x, y)) for training, or (x,) "
                        "for batches of x alone")
    if isinstance(dataset, tuple):
        if len(dataset) not in (1, 2):
            raise ValueError(f"DataLoader: a tuple is read as arrays (x, y) or (x,), got a tuple of {len(dataset)} "
                             "items; sample weights are not batched by loaders (pass them to fit with arrays), "
                             "and a dataset of samples is a list or a pydl.data.Dataset")
        return ArrayDataset(*dataset)
    return dataset


class DataLoader:
    """Batches of ``dataset``: ``for x_batch, y_batch in loader`` or ``model.fit(loader)``.

    ``dataset`` is a map-style dataset (``ArrayDataset(x, y)``, a ``Dataset``, a list of
    ``(x_i, y_i)`` pairs), or a tuple of arrays: ``(x, y)`` or ``(x,)``, taken as
    ``ArrayDataset(x, y)`` / ``ArrayDataset(x)`` (batches ``(x_batch, None)``). A bare
    array is refused (TypeError): it has no targets, say ``(x,)`` if that is meant.
    ``transform`` (a pydl augmentation, e.g. ``Compose([RandomFlip(), RandomCrop(28, 2)])``)
    runs in training only. ``seed=None`` draws a seed once; a given seed reproduces every
    epoch's order and augmentation exactly. ``prefetch_factor`` batches are made ahead on
    the background thread (PyTorch's name; ``prefetch`` is its deprecated alias).
    ``split(fraction)`` holds out a validation loader.
    """

    prefetch = _deprecation.renamed_attribute("DataLoader", "prefetch", "prefetch_factor")

    def __init__(self, dataset, batch_size: int = 32, shuffle: bool = True, seed: Optional[int] = None,
                 drop_last: bool = False, transform: Optional[Transform] = None, prefetch_factor: int = 2,
                 prefetch=_deprecation.UNSET):
        prefetch_factor = _deprecation.renamed_argument("DataLoader", "prefetch", "prefetch_factor", prefetch,
                                                        prefetch_factor, 2)
        dataset = _as_dataset(dataset)
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(f"DataLoader: expected a dataset with __len__ and __getitem__, or arrays (x, y), got "
                            f"{type(dataset).__name__}")
        if len(dataset) == 0:
            raise ValueError("DataLoader: the dataset is empty")
        if transform is not None:
            _validate.instance("DataLoader", "transform", transform, Transform, "a pydl transform")
        prefetch_factor = _validate.integer("DataLoader", "prefetch_factor", prefetch_factor, 1, 64)
        batch_size = _checks.batch_size(batch_size, "DataLoader")
        shuffle = _validate.boolean("DataLoader", "shuffle", shuffle)
        drop_last = _validate.boolean("DataLoader", "drop_last", drop_last)
        seed = _validate.optional_int("DataLoader", "seed", seed, minimum=0)
        if drop_last and len(dataset) < batch_size:
            raise ValueError(f"DataLoader: drop_last=True with batch_size {batch_size} and only {len(dataset)} "
                             "samples leaves no batch; lower batch_size or set drop_last=False")
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.seed = seed
        self.drop_last = drop_last
        self.transform = transform
        self.prefetch_factor = prefetch_factor
        self._seed = int(np.random.SeedSequence().entropy % (1 << 63)) if seed is None else seed  # type: ignore[operator]
        self._epoch = 0
        self._core_loader = None
        if isinstance(dataset, ArrayDataset):
            x = dataset.x
            if x.dtype != np.uint8:
                x = _checks.as_float32(x, "DataLoader x")
                _checks.check_finite(x, "DataLoader x")
            if transform is not None and x.ndim != 4:
                raise ValueError(f"DataLoader: transforms need images (N, H, W, C), got x of shape {x.shape}")
            self._core_loader = _core.ArrayLoader(np.ascontiguousarray(x), self.batch_size, self.shuffle,
                                                  self.drop_last, self._seed, self.prefetch_factor,
                                                  transform.ops() if transform is not None else [])

    def split(self, validation_split: float) -> Tuple["DataLoader", "DataLoader"]:
        """``(train_loader, validation_loader)``: the last ``validation_split`` of the samples
        (before shuffling, as ``fit(x, y, validation_split=)`` and Keras hold them out:
        ``int(n * validation_split)`` samples) go to the validation loader, the rest to the
        training one. Both keep this loader's batch_size, shuffle, transform, prefetch_factor and
        seed (a drawn seed is carried over, so the split reproduces); drop_last applies to
        the training loader only, so that every held-out sample is scored. The arrays are
        views, not copies. Only array-backed loaders (an ArrayDataset) can be split: cut a
        custom dataset yourself before building its loaders."""
        if not isinstance(self.dataset, ArrayDataset):
            raise TypeError(f"DataLoader.split: needs a loader over an ArrayDataset (arrays), got a "
                            f"{type(self.dataset).__name__}; split a custom dataset before building its loaders")
        fraction = _validate.number("DataLoader.split", "validation_split", validation_split, 0.0, 1.0,
                                    low_open=True, high_open=True)
        n = len(self.dataset)
        n_val = int(n * fraction)
        if n_val < 1 or n_val >= n:
            raise ValueError(f"DataLoader.split: validation_split={fraction} leaves no samples on one side of {n}")
        cut = n - n_val
        x, y = self.dataset.x, self.dataset.y

        def loader(sl, drop_last):
            return DataLoader(ArrayDataset(x[sl], None if y is None else y[sl]), self.batch_size, self.shuffle,
                              self._seed, drop_last, self.transform, self.prefetch_factor)

        return loader(slice(None, cut), self.drop_last), loader(slice(cut, None), False)

    def __len__(self) -> int:
        n = len(self.dataset)
        return n // self.batch_size if self.drop_last else -(-n // self.batch_size)

    @property
    def sample_shape(self) -> Tuple[int, ...]:
        """Shape of one sample as batches deliver it (after the transform)."""
        if self._core_loader is not None:
            return tuple(self._core_loader.output_shape)
        x0 = np.asarray(self.dataset[0][0], dtype=np.float32)
        if self.transform is None:
            return x0.shape
        return self.transform(x0[None], seed=0).shape[1:]

    def _next_epoch(self) -> int:
        epoch = self._epoch
        self._epoch += 1
        return epoch

    def _order(self, epoch: int) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self._seed, epoch]).permutation(n)

    def __iter__(self) -> Iterator[Tuple[np.ndarray, Optional[np.ndarray]]]:
        epoch = self._next_epoch()
        if self._core_loader is not None:
            y = self.dataset.y
            self._core_loader.start_epoch(epoch)
            try:
                while (batch := self._core_loader.next()) is not None:
                    x, idx = batch
                    yield x, (None if y is None else y[idx])
            finally:
                self._core_loader.stop()
            return
        yield from self._python_batches(epoch)

    def _python_batches(self, epoch: int):
        """Custom datasets: samples come from Python; transforms still run in C++."""
        order = self._order(epoch)
        stop = len(order) - (len(order) % self.batch_size if self.drop_last else 0)
        for start in range(0, stop, self.batch_size):
            idx = order[start:start + self.batch_size]
            samples = [self.dataset[int(i)] for i in idx]
            x = np.stack([np.asarray(s[0], dtype=np.float32) for s in samples])
            ys = [s[1] for s in samples]
            y = None if ys[0] is None else np.stack([np.asarray(v) for v in ys])
            if self.transform is not None:
                keys = (np.uint64(epoch) << np.uint64(32)) + np.arange(start, start + len(idx), dtype=np.uint64)
                x = _core.augment(np.ascontiguousarray(x), self.transform.ops(), self._seed, keys)
            yield np.ascontiguousarray(x, dtype=np.float32), y
