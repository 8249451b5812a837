// pydl._core64: the training engine (Graph, Trainer) built from the same csrc/nn sources and
// bindings as pydl._core, over double (PYDL_REAL_DOUBLE, see core/real.h), for float64
// finite-difference gradient checks of whole models. Bindings only; no kernels, no loader.
#include "bind/common.h"

namespace py = pybind11;

PYBIND11_MODULE(_core64, m) {
  m.doc() = "pydl's training engine in float64 (for gradient checks; pydl._core trains)";

  // Local: the exceptions this module throws, without replacing pydl._core's translators.
  py::register_local_exception<pydl::TypeError>(m, "CoreTypeError", PyExc_TypeError);
  py::register_local_exception_translator(pydl::bind::translate_core_exceptions);

  pydl::bind::bind_nn(m);
}
