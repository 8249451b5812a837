// real: the engine's storage type (weights, gradients, activations, inputs, targets, optimizer
// moments). float for training (pydl._core); double when PYDL_REAL_DOUBLE is defined, which
// builds the same engine sources into pydl._core64 for float64 gradient checks. Kernels are
// templates instantiated for both; only csrc/nn and its bindings are written over `real`.
// Things that are float32 whatever the engine (the DataLoader's batches) say float.
#pragma once

namespace pydl {

#ifdef PYDL_REAL_DOUBLE
using real = double;
#else
using real = float;
#endif

}  // namespace pydl
