"""Windows over a time series, as ``keras.utils.timeseries_dataset_from_array`` makes them,
returned as a pydl DataLoader over the windows (so ``model.fit(loader)`` batches them in C++)."""
from __future__ import annotations

from typing import Optional

import numpy as np

from .. import _validate
from .loader import ArrayDataset, DataLoader

__all__ = ["timeseries_dataset_from_array"]

_OWNER = "timeseries_dataset_from_array"


def timeseries_dataset_from_array(data, targets, sequence_length: int, sequence_stride: int = 1,
                                  sampling_rate: int = 1, batch_size: int = 128, shuffle: bool = False,
                                  seed: Optional[int] = None, start_index: Optional[int] = None,
                                  end_index: Optional[int] = None) -> DataLoader:
    """A DataLoader of sliding windows over ``data`` (time steps on axis 0), with Keras's
    semantics: window ``i`` starts at step ``s = start_index + i * sequence_stride`` and
    holds ``data[s], data[s + sampling_rate], ...`` (``sequence_length`` steps); its target
    is ``targets[s]`` (so ``targets=data[T:]`` with ``sequence_length=T`` pairs each window
    with the step right after it). Windows end before ``end_index`` (exclusive, default
    ``len(data)``), and there are no more windows than targets. ``targets=None`` gives
    batches ``(x, None)``.

    Returns ``DataLoader(ArrayDataset(windows, window_targets), batch_size, shuffle, seed)``:
    the windows are materialised once (``windows x sequence_length x features`` values;
    uint8 data stays uint8 until batching), so the loader's C++ path batches them and
    ``split(fraction)`` holds out the last windows. With ``shuffle=True`` the loader draws a
    fresh order each epoch from ``seed`` (Keras shuffles through a tf.data buffer instead:
    the same windows, another order). ``batch_size=None`` (Keras: unbatched) is refused:
    pydl loaders always batch; use ``batch_size=1``."""
    data = np.asarray(data)
    if data.ndim < 1 or len(data) == 0:
        raise ValueError(f"{_OWNER}: expected data with time steps on axis 0, got shape {data.shape}")
    n = len(data)
    sequence_length = _validate.positive_int(_OWNER, "sequence_length", sequence_length)
    sequence_stride = _validate.positive_int(_OWNER, "sequence_stride", sequence_stride)
    sampling_rate = _validate.positive_int(_OWNER, "sampling_rate", sampling_rate)
    if batch_size is None:
        raise ValueError(f"{_OWNER}: batch_size=None (unbatched) is not supported; pydl loaders batch, use "
                         "batch_size=1")
    start = 0 if start_index is None else _validate.integer(_OWNER, "start_index", start_index, 0, n - 1)
    end = n if end_index is None else _validate.integer(_OWNER, "end_index", end_index, start + 1, n)
    if targets is not None:
        targets = np.asarray(targets)
        if targets.ndim < 1:
            raise ValueError(f"{_OWNER}: expected targets with one entry per time step, got shape {targets.shape}")
    span = (sequence_length - 1) * sampling_rate  # steps from a window's first to its last
    count = end - start - span  # windows starting at start + 0, 1, ... that end before `end`
    if targets is not None:
        count = min(count, len(targets) - start)
    if count <= 0:
        raise ValueError(f"{_OWNER}: no window fits: sequence_length={sequence_length} with sampling_rate="
                         f"{sampling_rate} spans {span + 1} steps, the data has {end - start} between start_index "
                         f"{start} and end_index {end}" + ("" if targets is None else f" ({len(targets)} targets)"))
    starts = start + np.arange(0, count, sequence_stride)
    windows = data[starts[:, None] + sampling_rate * np.arange(sequence_length)[None, :]]
    window_targets = None if targets is None else targets[starts]
    return DataLoader(ArrayDataset(windows, window_targets), batch_size=batch_size, shuffle=shuffle, seed=seed)
