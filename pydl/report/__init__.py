"""Reports on a training run: plots (``plot``: curves, confusion matrices, search results;
matplotlib) and ``diagnose`` (overfit / underfit / unstable, with the numbers)."""
from . import plot
from .diagnosis import VERDICTS, Diagnosis, diagnose

__all__ = ["plot", "diagnose", "Diagnosis", "VERDICTS"]
