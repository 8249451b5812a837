// Helpers shared by the bind_*.cc files: numpy arrays to core views, with checks.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/functional.h>

#include <string>

#include "core/errors.h"
#include "core/view.h"
#include "nn/trainer.h"

namespace pydl::bind {

namespace py = pybind11;

template <typename T>
using Array = py::array_t<T, py::array::c_style | py::array::forcecast>;

// A 2-D view of an array; arrays of rank > 2 are read as (shape[0], prod(rest)).
template <typename T, typename A>
Matrix<T> as_matrix(A& arr, const char* what) {
  if (arr.ndim() < 1) throw ValueError(std::string(what) + ": expected an array of rank >= 1, got a scalar");
  int64_t rows = arr.shape(0);
  int64_t cols = 1;
  for (py::ssize_t d = 1; d < arr.ndim(); ++d) cols *= arr.shape(d);
  if constexpr (std::is_const_v<T>) {
    return Matrix<T>(arr.data(), rows, cols);
  } else {
    return Matrix<T>(arr.mutable_data(), rows, cols);
  }
}

// The kernel bindings read raw pointers: sizes are checked here, so a wrong array raises
// ValueError instead of reading out of bounds.
inline void require_size(const py::array& a, int64_t n, const std::string& what) {
  if (int64_t(a.size()) != n)
    throw ValueError(what + ": expected " + std::to_string(n) + " values, got " + std::to_string(a.size()));
}
inline void require_rank(const py::array& a, int rank, const std::string& what) {
  if (a.ndim() != rank)
    throw ValueError(what + ": expected an array of rank " + std::to_string(rank) + ", got rank " +
                     std::to_string(a.ndim()));
}
// (rows, features) of an array read as rows of its last axis (softmax, normalization);
// refuses a scalar and an empty last axis, which would divide by zero.
template <typename A>
std::pair<int64_t, int64_t> rows_by_last_axis(const A& a, const std::string& what) {
  if (a.ndim() < 1) throw ValueError(what + ": expected an array of rank >= 1, got a scalar");
  const int64_t c = a.shape(a.ndim() - 1);
  if (c < 1) throw ValueError(what + ": expected a non-empty last axis, got shape with " + std::to_string(c));
  return {int64_t(a.size()) / c, c};
}

// Scatter indices (argmax of pooling) must stay inside [0, limit).
inline void require_indices(const py::array_t<int32_t>& idx, int64_t limit, const std::string& what) {
  const int32_t* p = idx.data();
  for (py::ssize_t i = 0; i < idx.size(); ++i)
    if (p[i] < 0 || p[i] >= limit) throw ValueError(what + ": index " + std::to_string(p[i]) + " out of range");
}

// d[key] as a string; ValueError naming `what` when it is missing or not a string.
inline std::string required_str(const py::dict& d, const char* key, const std::string& what) {
  if (!d.contains(key) || !py::isinstance<py::str>(d[key]))
    throw ValueError(what + ": expected a string under '" + key + "'");
  return d[key].cast<std::string>();
}

// field = d[key] when the key is there and not None (optional settings from Python dicts).
template <typename T>
void read_field(const py::dict& d, const char* key, T& field) {
  if (d.contains(key) && !d[key].is_none()) field = d[key].template cast<T>();
}

void bind_kernels(py::module_& m);
void bind_image_kernels(py::module_& m);
void bind_rnn_kernels(py::module_& m);
void bind_attention_kernels(py::module_& m);
void bind_sequence_kernels(py::module_& m);
void bind_nn(py::module_& m);
void bind_data(py::module_& m);
void bind_distributed(py::module_& m);

}  // namespace pydl::bind

namespace pydl {
struct EpochStats;
class Trainer;
namespace bind {

// The core's exceptions Python has no automatic translation for (Ctrl-C, MemoryError); both
// modules (_core globally, _core64 locally) register it.
inline void translate_core_exceptions(std::exception_ptr p) {
  try {
    if (p) std::rethrow_exception(p);
  } catch (const Interrupted&) {
    PyErr_SetNone(PyExc_KeyboardInterrupt);
  } catch (const MemoryError& e) {
    PyErr_SetString(PyExc_MemoryError, e.what());
  }
}
// The arrays behind a DataRef, kept alive (and converted to C-contiguous real/int32) for
// the call.
struct DataHolder {
  std::vector<Array<real>> xs, targets;
  std::vector<Array<int32_t>> labels;
  std::optional<Array<real>> sample_weight;
  DataRef ref;
};
// x: an array per graph input (a bare array for one); labels/targets: an entry per head
// (None where unused; bare for one head); all checked against the trainer's graph.
// with_x=false leaves x out (a loader supplies it; n comes from the targets).
DataHolder make_data(const Trainer& t, const py::object& x, const py::object& labels, const py::object& targets,
                     const py::object& sample_weight, const std::string& what, bool with_x = true);  // bind_nn.cc
py::dict stats_dict(const EpochStats& s);              // bind_nn.cc
// An optimizer dict ({"kind": ..., settings}) as a checked config; unknown keys are errors.
OptimizerConfig to_optimizer_config(const py::dict& d);  // bind_nn.cc
// Runs epoch(progress_fn) with the GIL released and Ctrl-C turned into a flag; the Python
// progress callback (if any) is called with the GIL held. Returns stats_dict of the result.
py::dict run_epoch(std::optional<py::function>& progress, bool check_interrupt,
                   const std::function<EpochStats(const ProgressFn&)>& epoch);
void bind_trainer_data(py::class_<Trainer>& trainer);  // bind_data.cc: loader-driven training
}  // namespace bind
}  // namespace pydl
