// Test hooks (pydl._core.kernels._*) for the training-family kernel entries that the trainer
// calls but pydl.kernels does not expose: the optimizer step with tracked bounds and frozen
// ranges, measure_update_bounds, token_weights, loss_weight_total, the custom-loss reduction
// and accumulate_metrics. Each runs through a KernelCall, so on the device that
// pydl.kernels.on_device selected: the CUDA tests compare them with the CPU. No logic here
// beyond staging and the host-side checks the kernels rely on.
#include "bind/common.h"
#include "bind/kernel_call.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/optim.h"

namespace pydl::bind {
namespace {

template <typename T>
T* staged_inplace(KernelCall& call, py::array_t<T>& a, const char* what) {
  if (!(a.flags() & py::array::c_style) || !a.writeable())
    throw ValueError(std::string(what) + ": expected a writable C-contiguous array");
  Array<T> same(a);  // no copy: numpy hands back the same array
  if (same.data() != a.data()) throw ValueError(std::string(what) + ": expected a C-contiguous array of the dtype");
  return call.inout(same);
}

std::vector<ParamRange> to_ranges(const std::vector<std::pair<int64_t, int64_t>>& frozen, int64_t n) {
  std::vector<ParamRange> r;
  int64_t end = 0;
  for (auto [offset, size] : frozen) {
    if (offset < end || size < 0 || offset + size > n)
      throw ValueError("frozen: expected sorted, disjoint (offset, size) ranges inside the params");
    r.push_back({offset, size});
    end = offset + size;
  }
  return r;
}

py::tuple bounds_tuple(const UpdateBounds& b) {
  return py::make_tuple(b.params, b.slots[0], b.slots[1], b.slots[2]);
}

template <typename T>
SlotPtrs<T> stage_slots(KernelCall& call, std::vector<py::array_t<T>>& slots, int64_t n) {
  if (slots.size() > size_t(kMaxSlots)) throw ValueError("slots: at most 3");
  SlotPtrs<T> s{};
  for (size_t k = 0; k < slots.size(); ++k) {
    if (slots[k].size() != n) throw ValueError("slots: each of the params' size");
    s[k] = staged_inplace(call, slots[k], "slot");
  }
  return s;
}

template <typename T>
void def_hooks(py::module_& k) {
  k.def("_optimizer_step_tracked", [](py::array_t<T> params, Array<T> grads, std::vector<py::array_t<T>> slots,
                                      const py::dict& config, int64_t step, std::optional<py::tuple> bounds,
                                      const std::vector<std::pair<int64_t, int64_t>>& frozen) {
    const OptimizerConfig c = to_optimizer_config(config);
    const int64_t n = params.size();
    if (grads.size() != n) throw ValueError("_optimizer_step_tracked: grads and params differ in size");
    if (int(slots.size()) != optimizer_slots(c)) throw ValueError("_optimizer_step_tracked: wrong slot count");
    if (step < 1) throw ValueError("_optimizer_step_tracked: step counts from 1");
    const std::vector<ParamRange> fr = to_ranges(frozen, n);
    UpdateBounds b;
    if (bounds) {
      if (bounds->size() != 4) throw ValueError("_optimizer_step_tracked: bounds: (params, s0, s1, s2)");
      b.params = (*bounds)[0].cast<double>();
      for (int i = 0; i < kMaxSlots; ++i) b.slots[i] = (*bounds)[i + 1].cast<double>();
      b.known = true;
    }
    KernelCall call;
    const SlotPtrs<T> s = stage_slots(call, slots, n);
    T* p = staged_inplace(call, params, "params");
    const bool applied = optimizer_step<T>(p, call.in(grads), s, n, c, step, &b, &fr);
    call.finish();
    return py::make_tuple(applied, b.known ? py::object(bounds_tuple(b)) : py::object(py::none()));
  }, py::arg("params"), py::arg("grads"), py::arg("slots"), py::arg("config"), py::arg("step"),
     py::arg("bounds") = py::none(), py::arg("frozen") = std::vector<std::pair<int64_t, int64_t>>{});

  k.def("_measure_update_bounds", [](Array<T> params, std::vector<Array<T>> slots,
                                     const std::vector<std::pair<int64_t, int64_t>>& frozen) {
    const int64_t n = params.size();
    const std::vector<ParamRange> fr = to_ranges(frozen, n);
    if (slots.size() > size_t(kMaxSlots)) throw ValueError("_measure_update_bounds: at most 3 slots");
    KernelCall call;
    SlotPtrs<T> s{};  // only read
    for (size_t i = 0; i < slots.size(); ++i) {
      if (slots[i].size() != n) throw ValueError("_measure_update_bounds: slots of the params' size");
      s[i] = const_cast<T*>(call.in(slots[i]));
    }
    const UpdateBounds b = measure_update_bounds<T>(call.in(params), s, n, &fr);
    call.finish();
    return bounds_tuple(b);
  }, py::arg("params"), py::arg("slots"), py::arg("frozen") = std::vector<std::pair<int64_t, int64_t>>{});

  k.def("_token_weights", [](std::optional<Array<T>> sample_weights, std::optional<Array<uint8_t>> mask,
                             int64_t rows, int64_t steps) {
    if (rows < 0 || steps < 1) throw ValueError("_token_weights: rows >= 0, steps >= 1");
    if (sample_weights && sample_weights->size() != rows) throw ValueError("_token_weights: one weight per row");
    if (mask && mask->size() != rows * steps) throw ValueError("_token_weights: one mask entry per token");
    Array<T> out({rows * steps});
    KernelCall call;
    const T* sw = sample_weights ? call.in(*sample_weights) : nullptr;
    T* o = call.out(out);
    const uint8_t* m = mask ? call.in(*mask) : nullptr;
    const bool needed = token_weights_needed(sw, m, steps);
    if (needed) token_weights<T>(o, sw, m, rows, steps);
    call.finish();
    const char* which = needed ? "out" : (sw ? "sample_weights" : "none");
    return py::make_tuple(which, out);
  }, py::arg("sample_weights"), py::arg("mask"), py::arg("rows"), py::arg("steps"));

  k.def("_custom_loss", [](const py::function& fn, Array<T> y_pred, Array<T> y_true,
                           std::optional<Array<T>> sample_weights, bool with_grad) {
    auto pm = as_matrix<const T>(y_pred, "y_pred");
    require_size(y_true, pm.size(), "_custom_loss y_true");
    if (sample_weights) require_size(*sample_weights, pm.rows, "_custom_loss sample_weights");
    // fn(y_pred, y_true) -> (per-sample losses (rows,), gradient shaped like y_pred)
    CustomLossOf<T> loss = [&fn](Matrix<const T> yp, Matrix<const T> yt, double* per_sample, Matrix<T> grad) {
      Array<T> a({yp.rows, yp.cols}), b({yt.rows, yt.cols});
      std::copy(yp.data, yp.data + yp.size(), a.mutable_data());
      std::copy(yt.data, yt.data + yt.size(), b.mutable_data());
      py::tuple r = fn(a, b);
      auto l = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(r[0]);
      auto g = Array<T>::ensure(r[1]);
      if (!l || l.size() != yp.rows || !g || g.size() != yp.size()) throw ValueError("_custom_loss: fn's results");
      std::copy(l.data(), l.data() + l.size(), per_sample);
      if (grad.data) std::copy(g.data(), g.data() + g.size(), grad.data);
    };
    Array<T> grad({pm.rows, pm.cols});
    std::vector<double> ws(size_t(pm.rows));
    KernelCall call;
    const Device dev = call.device();
    const T* sw = sample_weights ? call.in(*sample_weights) : nullptr;
    double* wsp = static_cast<double*>(call.out_bytes(ws.data(), ws.size() * sizeof(double)));
    const double l = custom_loss_forward_backward<T>(
        loss, with_grad ? Matrix<T>(call.out(grad), pm.rows, pm.cols, dev) : Matrix<T>(nullptr, pm.rows, pm.cols, dev),
        wsp, Matrix<const T>(call.in(y_pred), pm.rows, pm.cols, dev),
        Matrix<const T>(call.in(y_true), pm.rows, pm.cols, dev), sw);
    const double total = custom_loss_weight_total<T>(sw, pm.rows);
    call.finish();
    return py::make_tuple(l, with_grad ? py::object(grad) : py::object(py::none()), total,
                          py::array_t<double>(py::ssize_t(ws.size()), ws.data()));
  }, py::arg("fn"), py::arg("y_pred"), py::arg("y_true"), py::arg("sample_weights") = py::none(),
     py::arg("with_grad") = true);

  k.def("_accumulate_metrics", [](Array<T> logits, std::optional<Array<int32_t>> labels,
                                  std::optional<Array<T>> targets, const std::string& kind, bool from_logits,
                                  bool confusion, int64_t top_k, bool regression, bool log_loss,
                                  std::optional<Array<uint8_t>> row_mask) {
    const LossKind lk = parse_loss(kind);
    auto lm = as_matrix<const T>(logits, "logits");
    if (lk == LossKind::CrossEntropy) {
      if (!labels) throw ValueError("_accumulate_metrics: cross_entropy needs labels");
      require_size(*labels, lm.rows, "_accumulate_metrics labels");
      for (int64_t i = 0; i < lm.rows; ++i)
        if (labels->data()[i] < 0 || labels->data()[i] >= lm.cols)
          throw ValueError("_accumulate_metrics: label out of range");
    }
    if (lk != LossKind::CrossEntropy || regression) {
      if (!targets) throw ValueError("_accumulate_metrics: targets needed");
      require_size(*targets, lm.size(), "_accumulate_metrics targets");
    }
    if (row_mask) require_size(*row_mask, lm.rows, "_accumulate_metrics row_mask");
    if (top_k < 0) throw ValueError("_accumulate_metrics: top_k >= 0");
    MetricSums s;
    KernelCall call;
    const Device dev = call.device();
    Matrix<const T> tm = targets ? Matrix<const T>(call.in(*targets), lm.rows, lm.cols, dev) : Matrix<const T>();
    accumulate_metrics<T>(s, MetricSpec{confusion, top_k, regression, log_loss},
                          Matrix<const T>(call.in(logits), lm.rows, lm.cols, dev), labels ? call.in(*labels) : nullptr,
                          tm, lk, from_logits, row_mask ? call.in(*row_mask) : nullptr);
    const AccuracyCount a = accuracy_count<T>(Matrix<const T>(call.in(logits), lm.rows, lm.cols, dev),
                                              labels ? call.in(*labels) : nullptr, tm, lk, from_logits,
                                              row_mask ? call.in(*row_mask) : nullptr);
    call.finish();
    py::dict d;
    d["confusion"] = s.confusion;
    d["top_k_correct"] = s.top_k_correct;
    d["top_k_total"] = s.top_k_total;
    d["sq_err"] = s.sq_err;
    d["abs_err"] = s.abs_err;
    d["sum_t"] = s.sum_t;
    d["sum_t2"] = s.sum_t2;
    d["count"] = s.count;
    d["nll"] = s.nll;
    d["nll_count"] = s.nll_count;
    d["correct"] = a.correct;
    d["total"] = a.total;
    return d;
  }, py::arg("logits"), py::arg("labels"), py::arg("targets"), py::arg("kind"), py::arg("from_logits") = true,
     py::arg("confusion") = false, py::arg("top_k") = 0, py::arg("regression") = false, py::arg("log_loss") = false,
     py::arg("row_mask") = py::none());
}

}  // namespace

void def_training_kernel_hooks(py::module_& k) {
  def_hooks<float>(k);
  def_hooks<double>(k);
  k.def("_loss_weight_total", [](py::array_t<double, py::array::c_style | py::array::forcecast> ws) {
    if (ws.size() % 2) throw ValueError("_loss_weight_total: expected 2 doubles per row");
    KernelCall call;
    const double w = loss_weight_total(call.in(ws), ws.size() / 2);
    call.finish();
    return w;
  }, py::arg("ws"));
}

}  // namespace pydl::bind
