"""Data pipeline benchmark cases (bench_data.py, report.py): loader throughput with
flip + crop + rotation on 28x28x1 and 32x32x3 uint8 images, and cnn_train with the same
augmentation on vs off (the net of pydl/benchmarks/cnn.py)."""
import numpy as np

from pydl.benchmarks import cnn as CNN
from pydl import data as P
from pydl.data import ArrayDataset, DataLoader

LOADER_SAMPLES, LOADER_BATCH = 8192, 128
SHAPES = [(28, 28, 1), (32, 32, 3)]


def augmentation(shape):
    return P.Compose([P.RandomFlip("horizontal"), P.RandomCrop(shape[:2], padding=2), P.RandomRotation(15)])


def images_u8(n, shape, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, size=(n, *shape), dtype=np.uint8), rng.integers(0, 10, n)


def loader_case(shape):
    """One pass over LOADER_SAMPLES images through the C++ loader (no training)."""
    x, y = images_u8(LOADER_SAMPLES, shape)
    loader = DataLoader(ArrayDataset(x, y), batch_size=LOADER_BATCH, seed=0, transform=augmentation(shape))

    def epoch():
        for _ in loader:
            pass
    return epoch


def cnn_train_case(augment: bool):
    """cnn_train from uint8 images through a DataLoader, with or without augmentation."""
    x, y = images_u8(CNN.TRAIN_SAMPLES, (28, 28, 1))
    loader = DataLoader(ArrayDataset(x, y), batch_size=CNN.TRAIN_BATCH, seed=0,
                        transform=augmentation((28, 28, 1)) if augment else None)
    model = CNN.pydl_cnn()
    return lambda: model.fit(loader, epochs=1, verbose=0)
