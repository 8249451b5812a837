// Recurrent kernels exposed for tests: forward returns the workspace that backward needs.
#include "bind/common.h"
#include "kernels/rnn.h"

namespace pydl::bind {
namespace {

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
                      const std::optional<py::array_t<uint8_t>>& mask) {
  if (bias) require_size(*bias, (a.cell == RnnCell::GRU ? 2 : 1) * a.gu(), "rnn bias");
  if (mask) require_size(*mask, a.n * a.t, "rnn mask");
}

// Dropout scales (0 or 1 / (1 - rate)): input (N, F), recurrent (N, U); None for none.
template <typename T>
RnnDropout<T> dropout_of(const RnnArgs& a, const std::optional<Array<T>>& in, const std::optional<Array<T>>& rec) {
  if (in) require_size(*in, a.n * a.f, "rnn input_dropout");
  if (rec) require_size(*rec, a.n * a.u, "rnn recurrent_dropout");
  return {in ? in->data() : nullptr, rec ? rec->data() : nullptr};
}

template <typename T>
void def_rnn(py::module_& k) {
  k.def("rnn_forward", [](Array<T> x, Array<T> kernel, Array<T> recurrent, std::optional<Array<T>> bias,
                          const std::string& cell, const std::string& act, bool reverse, bool return_sequences,
                          std::optional<py::array_t<uint8_t>> mask, std::optional<Array<T>> h0,
                          std::optional<Array<T>> c0, std::optional<Array<T>> input_dropout,
                          std::optional<Array<T>> recurrent_dropout) {
    RnnArgs a = args_of(x, recurrent, cell, act, reverse, return_sequences);
    if (kernel.size() != a.f * a.gu()) throw ValueError("rnn: kernel must be (F, G*U)");
    check_rnn_inputs(a, bias, mask);
    if (h0) require_size(*h0, a.n * a.u, "rnn h0");
    if (c0) require_size(*c0, a.n * a.u, "rnn c0");
    Array<T> y = return_sequences ? Array<T>({a.n, a.t, a.u}) : Array<T>({a.n, a.u});
    Array<T> ws({rnn_workspace(a)});
    RnnWeights<T> w{kernel.data(), recurrent.data(), bias ? bias->data() : nullptr};
    rnn_forward<T>(y.mutable_data(), x.data(), w, mask ? mask->data() : nullptr, h0 ? h0->data() : nullptr,
                   c0 ? c0->data() : nullptr, a, ws.mutable_data(), dropout_of(a, input_dropout, recurrent_dropout));
    return py::make_tuple(y, ws);
  }, py::arg("x"), py::arg("kernel"), py::arg("recurrent"), py::arg("bias") = py::none(), py::arg("cell") = "lstm",
     py::arg("activation") = "tanh", py::arg("reverse") = false, py::arg("return_sequences") = false,
     py::arg("mask") = py::none(), py::arg("h0") = py::none(), py::arg("c0") = py::none(),
     py::arg("input_dropout") = py::none(), py::arg("recurrent_dropout") = py::none());
  k.def("rnn_backward", [](Array<T> dy, Array<T> x, Array<T> kernel, Array<T> recurrent,
                           std::optional<Array<T>> bias, const std::string& cell, const std::string& act,
                           bool reverse, bool return_sequences, std::optional<py::array_t<uint8_t>> mask,
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
    RnnWeights<T> w{kernel.data(), recurrent.data(), bias ? bias->data() : nullptr};
    rnn_backward<T>(dx.mutable_data(), dk.mutable_data(), dr.mutable_data(), bias ? db.mutable_data() : nullptr,
                    dh0.mutable_data(), dc0.mutable_data(), dy.data(), x.data(), w, mask ? mask->data() : nullptr,
                    nullptr, nullptr, a, ws.mutable_data(), dropout_of(a, input_dropout, recurrent_dropout));
    return py::make_tuple(dx, dk, dr, db, dh0, dc0);
  }, py::arg("dy"), py::arg("x"), py::arg("kernel"), py::arg("recurrent"), py::arg("bias"), py::arg("cell"),
     py::arg("activation"), py::arg("reverse"), py::arg("return_sequences"), py::arg("mask"), py::arg("workspace"),
     py::arg("input_dropout") = py::none(), py::arg("recurrent_dropout") = py::none());
}

}  // namespace

void bind_rnn_kernels(py::module_& m) {
  auto k = m.attr("kernels").cast<py::module_>();
  def_rnn<float>(k);
  def_rnn<double>(k);
}

}  // namespace pydl::bind
