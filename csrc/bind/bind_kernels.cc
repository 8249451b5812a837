// Kernel entry points exposed one by one, in float32 and float64, for tests and benches.
#include "bind/common.h"
#include "kernels/activation.h"
#include "kernels/dense.h"
#include "kernels/dropout.h"
#include "kernels/gemm.h"
#include "kernels/loss.h"
#include "kernels/metrics.h"
#include "kernels/optim.h"

namespace pydl::bind {
namespace {

template <typename T>
void def_gemm(py::module_& k) {
  k.def("gemm",
        [](Array<T> a, Array<T> b, bool trans_a, bool trans_b, double alpha, double beta,
           std::optional<Array<T>> c_in, std::optional<Array<T>> bias, const std::string& act) {
          if (a.ndim() != 2 || b.ndim() != 2) throw ValueError("gemm: expected 2-D a and b");
          int64_t m = trans_a ? a.shape(1) : a.shape(0);
          int64_t n = trans_b ? b.shape(0) : b.shape(1);
          Array<T> c = c_in ? Array<T>(c_in->attr("copy")()) : Array<T>({m, n});
          if (c.ndim() != 2) throw ValueError("gemm: expected 2-D c");
          if (bias && bias->size() != n)
            throw ValueError("gemm: expected bias with " + std::to_string(n) + " entries, got " +
                             std::to_string(bias->size()));
          Activation activation = parse_activation(act);
          auto cm = as_matrix<T>(c, "c");
          auto am = as_matrix<const T>(a, "a");
          auto bm = as_matrix<const T>(b, "b");
          const T* bp = bias ? bias->data() : nullptr;
          {
            py::gil_scoped_release release;
            gemm<T>(cm, am, trans_a, bm, trans_b, T(alpha), c_in ? T(beta) : T(0), bp, activation);
          }
          return c;
        },
        py::arg("a"), py::arg("b"), py::arg("trans_a") = false, py::arg("trans_b") = false,
        py::arg("alpha") = 1.0, py::arg("beta") = 0.0, py::arg("c") = py::none(),
        py::arg("bias") = py::none(), py::arg("activation") = "linear");
}

template <typename T>
Array<T> empty_like(const Array<T>& a) {
  std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
  return Array<T>(shape);
}

// A writable, contiguous array of exactly T, updated in place (no silent copies).
template <typename T>
T* inplace(py::array_t<T>& a, const char* what) {
  if (!(a.flags() & py::array::c_style) || !a.writeable())
    throw ValueError(std::string(what) + ": expected a writable C-contiguous array");
  return a.mutable_data();
}

template <typename T>
void def_layers(py::module_& k) {
  k.def("activation_forward", [](Array<T> x, const std::string& act) {
    Array<T> y = empty_like(x);
    auto ym = as_matrix<T>(y, "y");
    auto xm = as_matrix<const T>(x, "x");
    // softmax runs over the last axis
    const int64_t last = x.shape(x.ndim() - 1);
    activation_forward<T>(Matrix<T>(ym.data, ym.size() / last, last),
                          Matrix<const T>(xm.data, xm.size() / last, last), parse_activation(act));
    return y;
  }, py::arg("x"), py::arg("activation"));
  k.def("activation_backward", [](Array<T> dy, Array<T> x, Array<T> y, const std::string& act) {
    require_size(x, dy.size(), "activation_backward x");
    require_size(y, dy.size(), "activation_backward y");
    Array<T> dx = empty_like(dy);
    const int64_t last = dy.shape(dy.ndim() - 1), rows = dy.size() / last;
    activation_backward<T>(Matrix<T>(dx.mutable_data(), rows, last), Matrix<const T>(dy.data(), rows, last),
                           Matrix<const T>(x.data(), rows, last), Matrix<const T>(y.data(), rows, last),
                           parse_activation(act));
    return dx;
  }, py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("activation"));

  k.def("dense_forward", [](Array<T> x, Array<T> w, std::optional<Array<T>> b, const std::string& act,
                            bool keep_preactivation) {
    if (x.ndim() != 2 || w.ndim() != 2 || x.shape(1) != w.shape(0))
      throw ValueError("dense_forward: expected x (n, in) and w (in, units)");
    if (b && b->size() != w.shape(1)) throw ValueError("dense_forward: expected b (units,)");
    Array<T> y({x.shape(0), w.shape(1)});
    Array<T> z({keep_preactivation ? x.shape(0) : py::ssize_t(0), w.shape(1)});
    auto zm = keep_preactivation ? as_matrix<T>(z, "z") : Matrix<T>();
    dense_forward<T>(as_matrix<T>(y, "y"), zm, as_matrix<const T>(x, "x"), as_matrix<const T>(w, "w"),
                     b ? b->data() : nullptr, parse_activation(act));
    return py::make_tuple(y, z);
  }, py::arg("x"), py::arg("w"), py::arg("b"), py::arg("activation") = "linear",
     py::arg("keep_preactivation") = false);
  k.def("dense_backward", [](Array<T> dy, Array<T> x, Array<T> w, Array<T> y, std::optional<Array<T>> z,
                             const std::string& act, bool use_bias, bool need_dx,
                             std::optional<Array<T>> dw_init, std::optional<Array<T>> db_init) {
    require_rank(x, 2, "dense_backward x");
    require_rank(w, 2, "dense_backward w");
    if (x.shape(1) != w.shape(0)) throw ValueError("dense_backward: expected x (n, in) and w (in, units)");
    const int64_t out = x.shape(0) * w.shape(1);
    require_size(dy, out, "dense_backward dy");
    require_size(y, out, "dense_backward y");
    if (z) require_size(*z, out, "dense_backward z");
    else if (activation_needs_input(parse_activation(act))) throw ValueError("dense_backward: this activation needs z");
    if (dw_init) require_size(*dw_init, w.size(), "dense_backward dw");
    if (db_init) require_size(*db_init, w.shape(1), "dense_backward db");
    Array<T> g = Array<T>(dy.attr("copy")());  // overwritten with dz
    Array<T> dx({x.shape(0), x.shape(1)});
    Array<T> dw = dw_init ? Array<T>(dw_init->attr("copy")()) : Array<T>({w.shape(0), w.shape(1)});
    if (!dw_init) std::fill(dw.mutable_data(), dw.mutable_data() + dw.size(), T(0));
    Array<T> db = db_init ? Array<T>(db_init->attr("copy")()) : Array<T>({w.shape(1)});
    if (!db_init) std::fill(db.mutable_data(), db.mutable_data() + db.size(), T(0));
    Matrix<T> dxm = need_dx ? as_matrix<T>(dx, "dx") : Matrix<T>(nullptr, x.shape(0), x.shape(1));
    Matrix<const T> zm = z ? as_matrix<const T>(*z, "z") : Matrix<const T>();
    dense_backward<T>(dxm, as_matrix<T>(dw, "dw"), use_bias ? db.mutable_data() : nullptr, as_matrix<T>(g, "dy"),
                      as_matrix<const T>(x, "x"), as_matrix<const T>(y, "y"), zm, as_matrix<const T>(w, "w"),
                      parse_activation(act));
    return py::make_tuple(dx, dw, db);
  }, py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("y"), py::arg("z") = py::none(),
     py::arg("activation") = "linear", py::arg("use_bias") = true, py::arg("need_dx") = true,
     py::arg("dw") = py::none(), py::arg("db") = py::none());

  k.def("dropout_forward", [](Array<T> x, double rate, uint64_t seed, uint64_t stream, uint64_t counter) {
    if (!(rate >= 0 && rate < 1)) throw ValueError("dropout: expected 0 <= rate < 1");
    Array<T> y = empty_like(x);
    py::array_t<uint8_t> mask(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    dropout_forward<T>(as_matrix<T>(y, "y"), mask.mutable_data(), as_matrix<const T>(x, "x"), rate,
                       CounterRng(seed, stream), counter);
    return py::make_tuple(y, mask);
  }, py::arg("x"), py::arg("rate"), py::arg("seed"), py::arg("stream") = 0, py::arg("counter") = 0);
  k.def("dropout_backward", [](Array<T> dy, py::array_t<uint8_t> mask, double rate) {
    if (mask.size() != dy.size()) throw ValueError("dropout_backward: mask and dy differ in size");
    Array<T> dx = empty_like(dy);
    dropout_backward<T>(as_matrix<T>(dx, "dx"), as_matrix<const T>(dy, "dy"), mask.data(), rate);
    return dx;
  }, py::arg("dy"), py::arg("mask"), py::arg("rate"));
}

template <typename T>
void def_loss_optim(py::module_& k) {
  k.def("loss", [](Array<T> logits, std::optional<Array<int32_t>> labels, std::optional<Array<T>> targets,
                   const std::string& kind, std::optional<Array<T>> class_weights, double label_smoothing) {
    if (logits.ndim() != 2) throw ValueError("loss: expected 2-D logits");
    LossArgs<T> a;
    a.kind = parse_loss(kind);
    a.class_weights = class_weights ? class_weights->data() : nullptr;
    a.label_smoothing = label_smoothing;
    const int64_t rows = logits.shape(0), cols = logits.shape(1);
    if (a.kind == LossKind::CrossEntropy) {
      if (!labels || labels->size() != rows) throw ValueError("loss: cross_entropy needs one label per row");
      for (int64_t i = 0; i < rows; ++i)
        if (labels->data()[i] < 0 || labels->data()[i] >= cols) throw ValueError("loss: label out of range");
      if (class_weights && class_weights->size() != cols) throw ValueError("loss: expected one weight per class");
    } else {
      if (!targets || targets->size() != rows * cols) throw ValueError("loss: expected targets shaped like logits");
      if (class_weights && class_weights->size() != 2) throw ValueError("loss: expected 2 class weights");
    }
    Array<T> grad = empty_like(logits);
    std::vector<double> ws(2 * rows);
    Matrix<const T> tm = targets ? as_matrix<const T>(*targets, "targets") : Matrix<const T>();
    double l = loss_forward_backward<T>(as_matrix<T>(grad, "grad"), ws.data(), as_matrix<const T>(logits, "logits"),
                                        labels ? labels->data() : nullptr, tm, a);
    return py::make_tuple(l, grad);
  }, py::arg("logits"), py::arg("labels") = py::none(), py::arg("targets") = py::none(),
     py::arg("kind") = "cross_entropy", py::arg("class_weights") = py::none(), py::arg("label_smoothing") = 0.0);

  k.def("optimizer_step", [](py::array_t<T> params, Array<T> grads, std::optional<py::array_t<T>> slot0,
                             std::optional<py::array_t<T>> slot1, const py::dict& config, int64_t step) {
    OptimizerConfig c;
    c.kind = parse_optimizer(config["kind"].template cast<std::string>());
    for (auto [key, field] : {std::pair<const char*, double*>{"learning_rate", &c.learning_rate},
                              {"momentum", &c.momentum}, {"weight_decay", &c.weight_decay},
                              {"beta_1", &c.beta_1}, {"beta_2", &c.beta_2}, {"epsilon", &c.epsilon}})
      if (config.contains(key)) *field = config[key].template cast<double>();
    if (config.contains("nesterov")) c.nesterov = config["nesterov"].template cast<bool>();
    validate(c);
    const int64_t n = params.size();
    if (grads.size() != n) throw ValueError("optimizer_step: grads and params differ in size");
    T* s0 = nullptr; T* s1 = nullptr;
    if (optimizer_slots(c) >= 1) {
      if (!slot0 || slot0->size() != n) throw ValueError("optimizer_step: slot0 of the params' size needed");
      s0 = inplace(*slot0, "slot0");
    }
    if (optimizer_slots(c) >= 2) {
      if (!slot1 || slot1->size() != n) throw ValueError("optimizer_step: slot1 of the params' size needed");
      s1 = inplace(*slot1, "slot1");
    }
    if (step < 1) throw ValueError("optimizer_step: step counts from 1");
    return optimizer_step<T>(inplace(params, "params"), grads.data(), s0, s1, n, c, step);
  }, py::arg("params"), py::arg("grads"), py::arg("slot0"), py::arg("slot1"), py::arg("config"), py::arg("step"));

  k.def("global_norm", [](Array<T> g) { return global_norm<T>(g.data(), g.size()); }, py::arg("g"));
  k.def("clip_by_global_norm", [](py::array_t<T> g, double max_norm) {
    return clip_by_global_norm<T>(inplace(g, "g"), g.size(), max_norm);
  }, py::arg("g"), py::arg("max_norm"));
  k.def("accuracy_count", [](Array<T> logits, std::optional<Array<int32_t>> labels,
                             std::optional<Array<T>> targets, const std::string& kind) {
    const LossKind lk = parse_loss(kind);
    auto lm = as_matrix<const T>(logits, "logits");
    if (lk == LossKind::CrossEntropy) {
      if (!labels) throw ValueError("accuracy_count: cross_entropy needs labels");
      require_size(*labels, lm.rows, "accuracy_count labels");
      for (int64_t i = 0; i < lm.rows; ++i)
        if (labels->data()[i] < 0 || labels->data()[i] >= lm.cols) throw ValueError("accuracy_count: label out of range");
    } else if (lk == LossKind::BinaryCrossEntropy) {
      if (!targets) throw ValueError("accuracy_count: binary_cross_entropy needs targets");
      require_size(*targets, lm.size(), "accuracy_count targets");
    }
    Matrix<const T> tm = targets ? as_matrix<const T>(*targets, "targets") : Matrix<const T>();
    AccuracyCount a = accuracy_count<T>(as_matrix<const T>(logits, "logits"), labels ? labels->data() : nullptr,
                                        tm, parse_loss(kind));
    return py::make_tuple(a.correct, a.total);
  }, py::arg("logits"), py::arg("labels") = py::none(), py::arg("targets") = py::none(),
     py::arg("kind") = "cross_entropy");
}

}  // namespace

void bind_kernels(py::module_& m) {
  auto k = m.def_submodule("kernels", "Single kernels, float32 and float64 overloads.");
  def_gemm<float>(k);
  def_gemm<double>(k);
  def_layers<float>(k);
  def_layers<double>(k);
  def_loss_optim<float>(k);
  def_loss_optim<double>(k);
}

}  // namespace pydl::bind
