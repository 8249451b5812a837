// Helpers shared by the bind_*.cc files: numpy arrays to core views, with checks.
#pragma once
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>
#include <pybind11/functional.h>

#include <string>

#include "core/errors.h"
#include "core/view.h"

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

// field = d[key] when the key is there and not None (optional settings from Python dicts).
template <typename T>
void read_field(const py::dict& d, const char* key, T& field) {
  if (d.contains(key) && !d[key].is_none()) field = d[key].template cast<T>();
}

void bind_kernels(py::module_& m);
void bind_image_kernels(py::module_& m);
void bind_rnn_kernels(py::module_& m);
void bind_nn(py::module_& m);
void bind_data(py::module_& m);

}  // namespace pydl::bind

namespace pydl {
struct EpochStats;
class Trainer;
namespace bind {
py::dict stats_dict(const EpochStats& s);              // bind_nn.cc
// Runs epoch(progress_fn) with the GIL released and Ctrl-C turned into a flag; the Python
// progress callback (if any) is called with the GIL held. Returns stats_dict of the result.
py::dict run_epoch(std::optional<py::function>& progress, bool check_interrupt,
                   const std::function<EpochStats(const std::function<void(int64_t, double)>&)>& epoch);
void bind_trainer_data(py::class_<Trainer>& trainer);  // bind_data.cc: loader-driven training
}  // namespace bind
}  // namespace pydl
