// Sequence kernels exposed for tests and benches, float32 and float64: masked global pools
// over (N, T, C) with an optional (N, T) mask of valid steps (uint8, 1 = valid), and learned
// position embeddings (table (L, D), the first T rows added). Staged through KernelCall: inside
// pydl.kernels.on_device("cuda") they run on the GPU.
#include <algorithm>
#include <cstdint>

#include "bind/common.h"
#include "bind/kernel_call.h"
#include "kernels/position_embedding.h"
#include "kernels/sequence_pool.h"

namespace pydl::bind {
namespace {

using Mask = std::optional<py::array_t<uint8_t, py::array::c_style | py::array::forcecast>>;
using Indices = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;

template <typename T>
void check_mask(const Array<T>& x, const Mask& mask) {
  if (mask) require_size(*mask, x.shape(0) * x.shape(1), "masked pool mask (N, T)");
}
const uint8_t* staged(KernelCall& call, const Mask& mask) { return mask ? call.in(*mask) : nullptr; }

template <typename T>
void def_sequence(py::module_& k) {
  k.def("masked_avg_pool1d_forward", [](Array<T> x, Mask mask) {
    require_rank(x, 3, "masked_avg_pool1d_forward x (N, T, C)");
    check_mask(x, mask);
    Array<T> y({x.shape(0), x.shape(2)});
    KernelCall call;
    T* yd = call.out(y);
    const T* xd = call.in(x);
    const uint8_t* m = staged(call, mask);
    {
      py::gil_scoped_release release;
      masked_avg_pool1d_forward<T>(yd, xd, m, x.shape(0), x.shape(1), x.shape(2));
      call.finish();
    }
    return y;
  }, py::arg("x"), py::arg("mask") = py::none());
  k.def("masked_avg_pool1d_backward", [](Array<T> dy, int64_t steps, Mask mask) {
    require_rank(dy, 2, "masked_avg_pool1d_backward dy (N, C)");
    if (steps < 1) throw ValueError("masked_avg_pool1d_backward: expected steps >= 1, got " + std::to_string(steps));
    const int64_t n = dy.shape(0), c = dy.shape(1);
    if (mask) require_size(*mask, n * steps, "masked pool mask (N, T)");
    Array<T> dx({n, steps, c});
    KernelCall call;
    T* dxd = call.out(dx);
    const T* dyd = call.in(dy);
    const uint8_t* m = staged(call, mask);
    {
      py::gil_scoped_release release;
      masked_avg_pool1d_backward<T>(dxd, dyd, m, n, steps, c);
      call.finish();
    }
    return dx;
  }, py::arg("dy"), py::arg("steps"), py::arg("mask") = py::none());
  k.def("masked_max_pool1d_forward", [](Array<T> x, Mask mask) {
    require_rank(x, 3, "masked_max_pool1d_forward x (N, T, C)");
    check_mask(x, mask);
    Array<T> y({x.shape(0), x.shape(2)});
    Indices argmax({x.shape(0), x.shape(2)});
    KernelCall call;
    T* yd = call.out(y);
    int32_t* ad = call.out(argmax);
    const T* xd = call.in(x);
    const uint8_t* m = staged(call, mask);
    {
      py::gil_scoped_release release;
      masked_max_pool1d_forward<T>(yd, ad, xd, m, x.shape(0), x.shape(1), x.shape(2));
      call.finish();
    }
    return py::make_tuple(y, argmax);
  }, py::arg("x"), py::arg("mask") = py::none());
  k.def("masked_max_pool1d_backward", [](Array<T> dy, Indices argmax,
                                         int64_t steps) {
    require_rank(dy, 2, "masked_max_pool1d_backward dy (N, C)");
    if (steps < 1) throw ValueError("masked_max_pool1d_backward: expected steps >= 1, got " + std::to_string(steps));
    const int64_t n = dy.shape(0), c = dy.shape(1);
    require_size(argmax, n * c, "masked_max_pool1d_backward argmax (N, C)");
    for (int64_t i = 0; i < n * c; ++i)
      if (argmax.data()[i] < -1 || argmax.data()[i] >= steps)
        throw ValueError("masked_max_pool1d_backward: argmax entries must be -1 or a step below " +
                         std::to_string(steps));
    Array<T> dx({n, steps, c});
    KernelCall call;  // argmax checked above, on the host data
    T* dxd = call.out(dx);
    const T* dyd = call.in(dy);
    const int32_t* ad = call.in(argmax);
    {
      py::gil_scoped_release release;
      masked_max_pool1d_backward<T>(dxd, dyd, ad, n, steps, c);
      call.finish();
    }
    return dx;
  }, py::arg("dy"), py::arg("argmax"), py::arg("steps"));
  k.def("position_embedding_forward", [](Array<T> table, int64_t n, int64_t steps) {
    require_rank(table, 2, "position_embedding_forward table (sequence_length, D)");
    if (n < 1 || steps < 1 || steps > table.shape(0))
      throw ValueError("position_embedding_forward: expected n >= 1 and 1 <= steps <= " +
                       std::to_string(table.shape(0)) + " (the table's rows), got n=" + std::to_string(n) +
                       " steps=" + std::to_string(steps));
    Array<T> y({n, steps, table.shape(1)});
    KernelCall call;
    T* yd = call.out(y);
    const T* td = call.in(table);
    {
      py::gil_scoped_release release;
      position_embedding_forward<T>(yd, td, n, steps, table.shape(1));
      call.finish();
    }
    return y;
  }, py::arg("table"), py::arg("n"), py::arg("steps"));
  k.def("position_embedding_backward", [](Array<T> dy, int64_t sequence_length) {
    require_rank(dy, 3, "position_embedding_backward dy (N, T, D)");
    if (sequence_length < dy.shape(1))
      throw ValueError("position_embedding_backward: expected sequence_length >= T = " + std::to_string(dy.shape(1)) +
                       ", got " + std::to_string(sequence_length));
    Array<T> dtable({sequence_length, dy.shape(2)});
    std::fill(dtable.mutable_data(), dtable.mutable_data() + dtable.size(), T(0));
    KernelCall call;  // the kernel accumulates into the zeros: staged in and out
    T* dtd = call.inout(dtable);
    const T* dyd = call.in(dy);
    {
      py::gil_scoped_release release;
      position_embedding_backward<T>(dtd, dyd, dy.shape(0), dy.shape(1), dy.shape(2));
      call.finish();
    }
    return dtable;
  }, py::arg("dy"), py::arg("sequence_length"));
}

}  // namespace

void bind_sequence_kernels(py::module_& m) {
  auto k = m.attr("kernels").cast<py::module_>();
  def_sequence<float>(k);
  def_sequence<double>(k);
}

}  // namespace pydl::bind
