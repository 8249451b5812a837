// Recurrent kernels exposed for tests: forward returns the workspace that backward needs.
// Staged through KernelCall: inside pydl.kernels.on_device("cuda") they run on the GPU.
#include "bind/common.h"
#include "bind/kernel_call.h"
#include "kernels/rnn.h"

namespace pydl::bind {
namespace {

using Mask = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>;

// The device copy of an optional input (null when absent).
template <typename A>
auto staged(KernelCall& call, const std::optional<A>& a) -> decltype(call.in(*a)) {
  return a ? call.in(*a) : nullptr;
}

template <typename T>
RnnArgs args_of(const Array<T>& x, const Array<T>& rec, const std::string& cell, const std::string& act,
                bool reverse, bool seq) {
  if (x.ndim() != 3 || rec.ndim() != 2) throw ValueError("rnn: expected x (N, T, F) and recurrent (U, G*U)");
  RnnArgs a;
  a.cell = parse_rnn_cell(cell);
  a.n = x.shape(0); a.t = x.shape(1); a.f = x.shape(2); a.u = rec.shape(0);
  a.act = parse_activation(act);
  a.reverse = reverse;
  a.return_sequences = seq;
  if (rec.shape(1) != a.gu()) throw ValueError("rnn: recurrent kernel must be (U, G*U)");
  if (a.n < 1 || a.t < 1 || a.f < 1 || a.u < 1)
    throw ValueError("rnn: expected non-empty x (N, T, F) and units, got N=" + std::to_string(a.n) + " T=" +
                     std::to_string(a.t) + " F=" + std::to_string(a.f) + " U=" + std::to_string(a.u));
  return a;
}

// Sizes of the optional inputs: bias, mask (N, T), initial states (N, U).
template <typename T>
void check_rnn_inputs(const RnnArgs& a, const std::optional<Array<T>>& bias,
                      const std::optional<Mask>& mask) {
  if (bias) require_size(*bias, (a.cell == RnnCell::GRU ? 2 : 1) * a.gu(), "rnn bias");
  if (mask) require_size(*mask, a.n * a.t, "rnn mask");
}

// Dropout scales (0 or 1 / (1 - rate)): input (N, F), recurrent (N, U); None for none.
template <typename T>
RnnDropout<T> dropout_of(KernelCall& call, const RnnArgs& a, const std::optional<Array<T>>& in,
                         const std::optional<Array<T>>& rec) {
  if (in) require_size(*in, a.n * a.f, "rnn input_dropout");
  if (rec) require_size(*rec, a.n * a.u, "rnn recurrent_dropout");
  return {staged(call, in), staged(call, rec)};
}

template <typename T>
void def_rnn(py::module_& k) {
  k.def("rnn_forward", [](Array<T> x, Array<T> kernel, Array<T> recurrent, std::optional<Array<T>> bias,
                          const std::string& cell, const std::string& act, bool reverse, bool return_sequences,
                          std::optional<Mask> mask, std::optional<Array<T>> h0,
                          std::optional<Array<T>> c0, std::optional<Array<T>> input_dropout,
                          std::optional<Array<T>> recurrent_dropout) {
    RnnArgs a = args_of(x, recurrent, cell, act, reverse, return_sequences);
    if (kernel.size() != a.f * a.gu()) throw ValueError("rnn: kernel must be (F, G*U)");
    check_rnn_inputs(a, bias, mask);
    if (h0) require_size(*h0, a.n * a.u, "rnn h0");
    if (c0) require_size(*c0, a.n * a.u, "rnn c0");
    Array<T> y = return_sequences ? Array<T>({a.n, a.t, a.u}) : Array<T>({a.n, a.u});
    Array<T> ws({rnn_workspace(a)});
    KernelCall call;
    const RnnDropout<T> drop = dropout_of(call, a, input_dropout, recurrent_dropout);
    RnnWeights<T> w{call.in(kernel), call.in(recurrent), staged(call, bias)};
    rnn_forward<T>(call.out(y), call.in(x), w, staged(call, mask), staged(call, h0), staged(call, c0), a,
                   call.out(ws), drop);
    call.finish();
    return py::make_tuple(y, ws);
  }, py::arg("x"), py::arg("kernel"), py::arg("recurrent"), py::arg("bias") = py::none(), py::arg("cell") = "lstm",
     py::arg("activation") = "tanh", py::arg("reverse") = false, py::arg("return_sequences") = false,
     py::arg("mask") = py::none(), py::arg("h0") = py::none(), py::arg("c0") = py::none(),
     py::arg("input_dropout") = py::none(), py::arg("recurrent_dropout") = py::none());
  k.def("rnn_backward", [](Array<T> dy, Array<T> x, Array<T> kernel, Array<T> recurrent,
                           std::optional<Array<T>> bias, const std::string& cell, const std::string& act,
                           bool reverse, bool return_sequences, std::optional<Mask> mask,
                           Array<T> workspace, std::optional<Array<T>> input_dropout,
                           std::optional<Array<T>> recurrent_dropout) {
    RnnArgs a = args_of(x, recurrent, cell, act, reverse, return_sequences);
    if (workspace.size() != rnn_workspace(a)) throw ValueError("rnn_backward: workspace of another shape");
    if (kernel.size() != a.f * a.gu()) throw ValueError("rnn: kernel must be (F, G*U)");
    check_rnn_inputs(a, bias, mask);
    require_size(dy, a.n * (return_sequences ? a.t : 1) * a.u, "rnn_backward dy");
    Array<T> ws(workspace.attr("copy")());
    Array<T> dx({a.n, a.t, a.f}), dk({a.f, a.gu()}), dr({a.u, a.gu()}), dh0({a.n, a.u}), dc0({a.n, a.u});
    const int64_t bias_size = a.cell == RnnCell::GRU ? 2 * a.gu() : a.gu();
    Array<T> db({bias_size});
    for (Array<T>* z : {&dk, &dr, &db}) std::fill(z->mutable_data(), z->mutable_data() + z->size(), T(0));
    KernelCall call;  // dk, dr, db accumulate into the zeros above: staged in and out
    const RnnDropout<T> drop = dropout_of(call, a, input_dropout, recurrent_dropout);
    RnnWeights<T> w{call.in(kernel), call.in(recurrent), staged(call, bias)};
    T* dbp = call.inout(db);
    rnn_backward<T>(call.out(dx), call.inout(dk), call.inout(dr), bias ? dbp : nullptr, call.out(dh0),
                    call.out(dc0), call.in(dy), call.in(x), w, staged(call, mask), nullptr, nullptr, a,
                    call.inout(ws), drop);
    call.finish();
    return py::make_tuple(dx, dk, dr, db, dh0, dc0);
  }, py::arg("dy"), py::arg("x"), py::arg("kernel"), py::arg("recurrent"), py::arg("bias"), py::arg("cell"),
     py::arg("activation"), py::arg("reverse"), py::arg("return_sequences"), py::arg("mask"), py::arg("workspace"),
     py::arg("input_dropout") = py::none(), py::arg("recurrent_dropout") = py::none());
}

// The recurrent layers' dropout masks (test-only: the CUDA draws must equal the CPU's).
template <typename T>
void def_rnn_dropout_scales(py::module_& k) {
  k.def("_rnn_dropout_scales", [](int64_t n, double rate, uint64_t seed, uint64_t stream, uint64_t counter) {
    if (n < 1) throw ValueError("rnn_dropout_scales: expected n >= 1, got " + std::to_string(n));
    if (!(rate >= 0.0 && rate < 1.0))
      throw ValueError("rnn_dropout_scales: expected 0 <= rate < 1, got " + std::to_string(rate));
    Array<T> scale({n});
    KernelCall call;
    rnn_dropout_scales<T>(call.out(scale), n, rate, CounterRng(seed, stream), StepClock{}, counter);
    call.finish();
    return scale;
  }, py::arg("n"), py::arg("rate"), py::arg("seed"), py::arg("stream"), py::arg("counter"));
}

}  // namespace

void bind_rnn_kernels(py::module_& m) {
  auto k = m.attr("kernels").cast<py::module_>();
  def_rnn<float>(k);
  def_rnn<double>(k);
  def_rnn_dropout_scales<float>(k);
  def_rnn_dropout_scales<double>(k);
}

}  // namespace pydl::bind
