"""Callbacks: objects that receive a ``logs`` dict at epoch ends and extend training
(stop it, checkpoint it, set the learning rate, log it). Subclass ``Callback`` for your own."""
from .base import Callback, CallbackList, History, unknown_hooks
from .checkpoint import ModelCheckpoint
from .csv_logger import CSVLogger
from .lambda_callback import LambdaCallback
from .learning_rate import LearningRateScheduler, ReduceLROnPlateau
from .stopping import EarlyStopping, TerminateOnNaN

__all__ = ["Callback", "History", "EarlyStopping", "ModelCheckpoint", "LearningRateScheduler",
           "ReduceLROnPlateau", "TerminateOnNaN", "CSVLogger", "LambdaCallback", "unknown_hooks"]
