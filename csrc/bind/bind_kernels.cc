// Kernel entry points exposed one by one, in float32 and float64, for tests and benches.
#include "bind/common.h"
#include "bind/kernel_call.h"
#include "kernels/activation.h"
#include "kernels/dense.h"
#include "kernels/dropout.h"
#include "kernels/embedding.h"
#include "kernels/gemm.h"
#include "kernels/loss.h"
#include "kernels/merge.h"
#include "kernels/metrics.h"
#include "kernels/norm.h"
#include "kernels/optim.h"
#include "kernels/peak.h"

namespace pydl::bind {
namespace {

// Views of arrays staged by a KernelCall: the arrays themselves on the CPU, their device
// copies when pydl.kernels.on_device("cuda") is active.
template <typename T>
Matrix<const T> in_matrix(KernelCall& call, const Array<T>& a, const char* what) {
  const auto m = as_matrix<const T>(a, what);
  return Matrix<const T>(call.in(a), m.rows, m.cols, call.device());
}
template <typename T>
Matrix<T> out_matrix(KernelCall& call, Array<T>& a, const char* what) {
  const auto m = as_matrix<T>(a, what);
  return Matrix<T>(call.out(a), m.rows, m.cols, call.device());
}
template <typename T>
Matrix<T> inout_matrix(KernelCall& call, Array<T>& a, const char* what) {
  const auto m = as_matrix<T>(a, what);
  return Matrix<T>(call.inout(a), m.rows, m.cols, call.device());
}

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
          KernelCall call;  // C is read only when given (beta), else only written
          auto cm = c_in ? inout_matrix(call, c, "c") : out_matrix(call, c, "c");
          auto am = in_matrix(call, a, "a");
          auto bm = in_matrix(call, b, "b");
          const T* bp = bias ? call.in(*bias) : nullptr;
          {
            py::gil_scoped_release release;
            gemm<T>(cm, am, trans_a, bm, trans_b, T(alpha), c_in ? T(beta) : T(0), bp, activation);
            call.finish();
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

// The same array staged for a kernel that updates it in place: its own memory on the CPU; on
// the device a copy, copied back by call.finish().
template <typename T>
T* stage_inplace(KernelCall& call, py::array_t<T>& a, const char* what) {
  T* host = inplace(a, what);
  Array<T> same(a);  // no copy: `a` is already C-contiguous T, so numpy hands back the same array
  if (same.data() != host) throw ValueError(std::string(what) + ": expected a writable C-contiguous array");
  return call.inout(same);
}

template <typename T>
void def_layers(py::module_& k) {
  k.def("activation_forward", [](Array<T> x, const std::string& act) {
    Array<T> y = empty_like(x);
    // softmax runs over the last axis
    const auto [rows, last] = rows_by_last_axis(x, "activation_forward x");
    const Activation activation = parse_activation(act);
    KernelCall call;  // on the device pydl.kernels.on_device selected
    activation_forward<T>(Matrix<T>(call.out(y), rows, last, call.device()),
                          Matrix<const T>(call.in(x), rows, last, call.device()), activation);
    call.finish();
    return y;
  }, py::arg("x"), py::arg("activation"));
  k.def("activation_backward", [](Array<T> dy, Array<T> x, Array<T> y, const std::string& act) {
    require_size(x, dy.size(), "activation_backward x");
    require_size(y, dy.size(), "activation_backward y");
    Array<T> dx = empty_like(dy);
    const auto [rows, last] = rows_by_last_axis(dy, "activation_backward dy");
    const Activation activation = parse_activation(act);
    KernelCall call;
    const Device dev = call.device();
    activation_backward<T>(Matrix<T>(call.out(dx), rows, last, dev), Matrix<const T>(call.in(dy), rows, last, dev),
                           Matrix<const T>(call.in(x), rows, last, dev), Matrix<const T>(call.in(y), rows, last, dev),
                           activation);
    call.finish();
    return dx;
  }, py::arg("dy"), py::arg("x"), py::arg("y"), py::arg("activation"));

  k.def("dense_forward", [](Array<T> x, Array<T> w, std::optional<Array<T>> b, const std::string& act,
                            bool keep_preactivation) {
    if (x.ndim() != 2 || w.ndim() != 2 || x.shape(1) != w.shape(0))
      throw ValueError("dense_forward: expected x (n, in) and w (in, units)");
    if (b && b->size() != w.shape(1)) throw ValueError("dense_forward: expected b (units,)");
    Array<T> y({x.shape(0), w.shape(1)});
    Array<T> z({keep_preactivation ? x.shape(0) : py::ssize_t(0), w.shape(1)});
    const Activation activation = parse_activation(act);
    KernelCall call;
    auto zm = keep_preactivation ? out_matrix(call, z, "z") : Matrix<T>();
    dense_forward<T>(out_matrix(call, y, "y"), zm, in_matrix(call, x, "x"), in_matrix(call, w, "w"),
                     b ? call.in(*b) : nullptr, activation);
    call.finish();
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
    const Activation activation = parse_activation(act);
    KernelCall call;  // dw and db accumulate: staged in and out
    Matrix<T> dxm = need_dx ? out_matrix(call, dx, "dx") : Matrix<T>(nullptr, x.shape(0), x.shape(1), call.device());
    Matrix<const T> zm = z ? in_matrix(call, *z, "z") : Matrix<const T>();
    dense_backward<T>(dxm, inout_matrix(call, dw, "dw"), use_bias ? call.inout(db) : nullptr,
                      inout_matrix(call, g, "dy"), in_matrix(call, x, "x"), in_matrix(call, y, "y"), zm,
                      in_matrix(call, w, "w"), activation);
    call.finish();
    return py::make_tuple(dx, dw, db);
  }, py::arg("dy"), py::arg("x"), py::arg("w"), py::arg("y"), py::arg("z") = py::none(),
     py::arg("activation") = "linear", py::arg("use_bias") = true, py::arg("need_dx") = true,
     py::arg("dw") = py::none(), py::arg("db") = py::none());

  k.def("dropout_forward", [](Array<T> x, double rate, uint64_t seed, uint64_t stream, uint64_t counter) {
    if (!(rate >= 0 && rate < 1)) throw ValueError("dropout: expected 0 <= rate < 1");
    Array<T> y = empty_like(x);
    Array<uint8_t> mask(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    KernelCall call;
    dropout_forward<T>(out_matrix(call, y, "y"), call.out(mask), in_matrix(call, x, "x"), rate,
                       CounterRng(seed, stream), StepClock{}, counter);
    call.finish();
    return py::make_tuple(y, mask);
  }, py::arg("x"), py::arg("rate"), py::arg("seed"), py::arg("stream") = 0, py::arg("counter") = 0);
  k.def("dropout_backward", [](Array<T> dy, Array<uint8_t> mask, double rate) {
    if (mask.size() != dy.size()) throw ValueError("dropout_backward: mask and dy differ in size");
    Array<T> dx = empty_like(dy);
    KernelCall call;
    dropout_backward<T>(out_matrix(call, dx, "dx"), in_matrix(call, dy, "dy"), call.in(mask), rate);
    call.finish();
    return dx;
  }, py::arg("dy"), py::arg("mask"), py::arg("rate"));
}

template <typename T>
void def_loss_optim(py::module_& k) {
  k.def("loss", [](Array<T> logits, std::optional<Array<int32_t>> labels, std::optional<Array<T>> targets,
                   const std::string& kind, std::optional<Array<T>> class_weights, double label_smoothing,
                   std::optional<Array<T>> sample_weights, bool from_logits, std::optional<Array<T>> pos_weight) {
    if (logits.ndim() != 2) throw ValueError("loss: expected 2-D logits");
    LossArgs<T> a;
    a.kind = parse_loss(kind);
    a.class_weights = class_weights ? class_weights->data() : nullptr;
    a.label_smoothing = label_smoothing;
    a.from_logits = from_logits;
    if (pos_weight) {
      if (a.kind != LossKind::BinaryCrossEntropy) throw ValueError("loss: pos_weight applies to binary_cross_entropy");
      if (pos_weight->size() != 1 && pos_weight->size() != logits.shape(1))
        throw ValueError("loss: expected one pos_weight or one per column");
      a.pos_weight = pos_weight->data();
      a.pos_weight_size = pos_weight->size();
    }
    const int64_t rows = logits.shape(0), cols = logits.shape(1);
    if (sample_weights && sample_weights->size() != rows) throw ValueError("loss: expected one sample weight per row");
    a.sample_weights = sample_weights ? sample_weights->data() : nullptr;
    if (uses_labels(a.kind)) {
      if (!labels || labels->size() != rows) throw ValueError("loss: cross_entropy needs one label per row");
      for (int64_t i = 0; i < rows; ++i)
        if (labels->data()[i] < 0 || labels->data()[i] >= cols) throw ValueError("loss: label out of range");
      if (class_weights && class_weights->size() != cols) throw ValueError("loss: expected one weight per class");
    } else {
      // the shape, not only the size: the kernel reads targets row by row with the logits' columns
      if (!targets || targets->ndim() != 2 || targets->shape(0) != rows || targets->shape(1) != cols)
        throw ValueError("loss: expected targets shaped like logits");
      if (class_weights && (a.kind != LossKind::BinaryCrossEntropy || class_weights->size() != 2))
        throw ValueError("loss: expected 2 class weights, for binary_cross_entropy");
    }
    Array<T> grad = empty_like(logits);
    std::vector<double> ws(2 * rows);
    KernelCall call;  // on the device pydl.kernels.on_device selected
    const Device dev = call.device();
    if (class_weights) a.class_weights = call.in(*class_weights);
    if (pos_weight) a.pos_weight = call.in(*pos_weight);
    if (sample_weights) a.sample_weights = call.in(*sample_weights);
    Matrix<const T> tm = targets ? Matrix<const T>(call.in(*targets), rows, cols, dev) : Matrix<const T>();
    double* wsp = static_cast<double*>(call.out_bytes(ws.data(), ws.size() * sizeof(double)));
    double l = loss_forward_backward<T>(Matrix<T>(call.out(grad), rows, cols, dev), wsp,
                                        Matrix<const T>(call.in(logits), rows, cols, dev),
                                        labels ? call.in(*labels) : nullptr, tm, a);
    call.finish();
    return py::make_tuple(l, grad);
  }, py::arg("logits"), py::arg("labels") = py::none(), py::arg("targets") = py::none(),
     py::arg("kind") = "cross_entropy", py::arg("class_weights") = py::none(), py::arg("label_smoothing") = 0.0,
     py::arg("sample_weights") = py::none(), py::arg("from_logits") = true, py::arg("pos_weight") = py::none());

  k.def("optimizer_step", [](py::array_t<T> params, Array<T> grads, std::optional<py::array_t<T>> slot0,
                             std::optional<py::array_t<T>> slot1, const py::dict& config, int64_t step,
                             std::optional<py::array_t<T>> slot2) {
    const OptimizerConfig c = to_optimizer_config(config);
    if (c.clipnorm > 0)  // not silently skipped: clipping is the trainer's step, or clip_by_global_norm
      throw ValueError("optimizer_step: clipnorm is not applied here; call clip_by_global_norm on the grads first");
    const int64_t n = params.size();
    if (grads.size() != n) throw ValueError("optimizer_step: grads and params differ in size");
    std::optional<py::array_t<T>>* given[kMaxSlots] = {&slot0, &slot1, &slot2};
    for (int k = 0; k < optimizer_slots(c); ++k) {
      const std::string name = "slot" + std::to_string(k);
      if (!*given[k] || (*given[k])->size() != n)
        throw ValueError("optimizer_step: " + name + " of the params' size needed");
      inplace(**given[k], name.c_str());
    }
    if (step < 1) throw ValueError("optimizer_step: step counts from 1");
    KernelCall call;  // params and slots are updated in place: staged in and out
    SlotPtrs<T> slots{};
    const char* names[kMaxSlots] = {"slot0", "slot1", "slot2"};
    for (int k = 0; k < optimizer_slots(c); ++k) slots[k] = stage_inplace(call, **given[k], names[k]);
    T* p = stage_inplace(call, params, "params");
    const bool applied = optimizer_step<T>(p, call.in(grads), slots, n, c, step);
    call.finish();
    return applied;
  }, py::arg("params"), py::arg("grads"), py::arg("slot0"), py::arg("slot1"), py::arg("config"), py::arg("step"),
     py::arg("slot2") = py::none(), "One fused step; slots in optimizer_slots' order (see optim.h).");

  k.def("global_norm", [](Array<T> g) {
    KernelCall call;
    const double norm = global_norm<T>(call.in(g), g.size());
    call.finish();
    return norm;
  }, py::arg("g"));
  k.def("clip_by_global_norm", [](py::array_t<T> g, double max_norm) {
    KernelCall call;
    const double norm = clip_by_global_norm<T>(stage_inplace(call, g, "g"), g.size(), max_norm);
    call.finish();
    return norm;
  }, py::arg("g"), py::arg("max_norm"));
  k.def("accuracy_count", [](Array<T> logits, std::optional<Array<int32_t>> labels,
                             std::optional<Array<T>> targets, const std::string& kind, bool from_logits) {
    const LossKind lk = parse_loss(kind);
    auto lm = as_matrix<const T>(logits, "logits");
    if (lk == LossKind::CrossEntropy) {
      if (!labels) throw ValueError("accuracy_count: cross_entropy needs labels");
      require_size(*labels, lm.rows, "accuracy_count labels");
      for (int64_t i = 0; i < lm.rows; ++i)
        if (labels->data()[i] < 0 || labels->data()[i] >= lm.cols) throw ValueError("accuracy_count: label out of range");
    } else if (is_classification(lk)) {
      if (!targets) throw ValueError(std::string("accuracy_count: ") + loss_name(lk) + " needs targets");
      require_size(*targets, lm.size(), "accuracy_count targets");
    }
    KernelCall call;
    const Device dev = call.device();
    Matrix<const T> tm = targets ? as_matrix<const T>(*targets, "targets") : Matrix<const T>();
    if (targets) tm = Matrix<const T>(call.in(*targets), tm.rows, tm.cols, dev);
    AccuracyCount a = accuracy_count<T>(Matrix<const T>(call.in(logits), lm.rows, lm.cols, dev),
                                        labels ? call.in(*labels) : nullptr, tm, lk, from_logits);
    call.finish();
    return py::make_tuple(a.correct, a.total);
  }, py::arg("logits"), py::arg("labels") = py::none(), py::arg("targets") = py::none(),
     py::arg("kind") = "cross_entropy", py::arg("from_logits") = true);
}

// Every id in [0, limit): kernels index tables with them unchecked.
void require_indices_below(const Array<int64_t>& ids, int64_t limit, const std::string& what) {
  for (int64_t i = 0; i < ids.size(); ++i)
    if (ids.data()[i] < 0 || ids.data()[i] >= limit)
      throw ValueError(what + ": id " + std::to_string(ids.data()[i]) + " is not in [0, " + std::to_string(limit) + ")");
}

MergeOp parse_merge(const std::string& op) {
  if (op == "add") return MergeOp::Add;
  if (op == "subtract") return MergeOp::Subtract;
  if (op == "multiply") return MergeOp::Multiply;
  if (op == "average") return MergeOp::Average;
  if (op == "maximum") return MergeOp::Maximum;
  if (op == "minimum") return MergeOp::Minimum;
  throw ValueError("unknown merge '" + op + "': expected add, subtract, multiply, average, maximum or minimum");
}

// The arrays of a merge, all of one shape (at least `least` of them).
template <typename T>
std::vector<Array<T>> same_shaped(const std::vector<Array<T>>& xs, size_t least, const char* what) {
  if (xs.size() < least) throw ValueError(std::string(what) + ": expected at least " + std::to_string(least) + " arrays");
  for (const auto& x : xs)
    if (x.ndim() != xs[0].ndim() || !std::equal(x.shape(), x.shape() + x.ndim(), xs[0].shape()))
      throw ValueError(std::string(what) + ": expected arrays of one shape");
  return xs;
}

template <typename T>
void def_merge(py::module_& k) {
  k.def("merge_forward", [](const std::string& op, std::vector<Array<T>> xs) {
    const MergeOp m = parse_merge(op);
    same_shaped(xs, 2, "merge_forward");
    if (m == MergeOp::Subtract && xs.size() != 2) throw ValueError("merge_forward: subtract takes 2 arrays");
    KernelCall call;  // p: a host array of the inputs' (device) pointers
    std::vector<const T*> p;
    for (auto& x : xs) p.push_back(call.in(x));
    Array<T> y = empty_like(xs[0]);
    merge_forward<T>(m, call.out(y), p.data(), int(xs.size()), y.size());
    call.finish();
    return y;
  }, py::arg("op"), py::arg("xs"));
  k.def("merge_backward", [](const std::string& op, Array<T> dy, std::vector<Array<T>> xs) {
    const MergeOp m = parse_merge(op);
    same_shaped(xs, 2, "merge_backward");
    if (m == MergeOp::Subtract && xs.size() != 2) throw ValueError("merge_backward: subtract takes 2 arrays");
    require_size(dy, xs[0].size(), "merge_backward dy");
    KernelCall call;
    std::vector<const T*> p;
    std::vector<Array<T>> dxs;
    std::vector<T*> dp;
    for (auto& x : xs) {
      p.push_back(call.in(x));
      dxs.push_back(empty_like(x));
      dp.push_back(call.out(dxs.back()));
    }
    merge_backward<T>(m, dp.data(), call.in(dy), p.data(), int(xs.size()), dy.size());
    call.finish();
    return dxs;
  }, py::arg("op"), py::arg("dy"), py::arg("xs"));
  k.def("concat_forward", [](std::vector<Array<T>> xs, int axis) {
    if (xs.empty() || xs[0].ndim() < 1) throw ValueError("concat_forward: expected arrays of rank >= 1");
    const int rank = int(xs[0].ndim());
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank) throw ValueError("concat_forward: axis out of range");
    std::vector<int64_t> widths;
    std::vector<py::ssize_t> shape(xs[0].shape(), xs[0].shape() + rank);
    shape[axis] = 0;
    for (auto& x : xs) {
      if (int(x.ndim()) != rank) throw ValueError("concat_forward: arrays of different ranks");
      for (int d = 0; d < rank; ++d)
        if (d != axis && x.shape(d) != xs[0].shape(d)) throw ValueError("concat_forward: shapes differ off the axis");
      widths.push_back(x.shape(axis));
      shape[axis] += x.shape(axis);
    }
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= shape[d];
    for (int d = axis + 1; d < rank; ++d) inner *= shape[d];
    Array<T> y(shape);
    KernelCall call;
    std::vector<const T*> p;
    for (auto& x : xs) p.push_back(call.in(x));
    concat_forward<T>(call.out(y), p.data(), widths.data(), int(xs.size()), outer, inner);
    call.finish();
    return y;
  }, py::arg("xs"), py::arg("axis"));
  k.def("concat_backward", [](Array<T> dy, std::vector<int64_t> widths, int axis) {
    const int rank = int(dy.ndim());
    if (axis < 0) axis += rank;
    if (rank < 1 || axis < 0 || axis >= rank) throw ValueError("concat_backward: axis out of range");
    int64_t total = 0;
    for (int64_t w : widths) {
      if (w < 0) throw ValueError("concat_backward: negative width");
      total += w;
    }
    if (total != dy.shape(axis)) throw ValueError("concat_backward: widths do not add up to dy's axis");
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; ++d) outer *= dy.shape(d);
    for (int d = axis + 1; d < rank; ++d) inner *= dy.shape(d);
    KernelCall call;
    std::vector<Array<T>> dxs;
    std::vector<T*> dp;
    for (int64_t w : widths) {
      std::vector<py::ssize_t> shape(dy.shape(), dy.shape() + rank);
      shape[axis] = w;
      dxs.emplace_back(shape);
      dp.push_back(call.out(dxs.back()));
    }
    concat_backward<T>(dp.data(), call.in(dy), widths.data(), int(widths.size()), outer, inner);
    call.finish();
    return dxs;
  }, py::arg("dy"), py::arg("widths"), py::arg("axis"));
}

// Embedding gather / scatter-add, Normalization with fixed statistics and Bidirectional's
// merge: the math their layers call.
template <typename T>
void def_sequence_kernels(py::module_& k) {
  k.def("embedding_ids", [](Array<T> x, int64_t vocab) {
    if (vocab < 1) throw ValueError("embedding_ids: expected vocab >= 1");
    std::vector<py::ssize_t> shape(x.shape(), x.shape() + x.ndim());
    Array<int64_t> ids(shape);
    Array<uint8_t> mask(shape);
    KernelCall call;
    const int64_t bad = embedding_ids<T>(call.out(ids), call.out(mask), call.in(x), x.size(), vocab);
    call.finish();
    if (bad >= 0)
      throw ValueError("embedding_ids: x at flat position " + std::to_string(bad) + " is not an integer in [0, " +
                       std::to_string(vocab) + ")");
    return py::make_tuple(ids, mask);
  }, py::arg("x"), py::arg("vocab"), "(ids as int64, mask of ids != 0); ValueError names the first bad id.");
  k.def("embedding_forward", [](Array<T> table, Array<int64_t> ids) {
    require_rank(table, 2, "embedding_forward table");
    if (table.shape(1) < 1) throw ValueError("embedding_forward: expected a table with at least one column");
    require_indices_below(ids, table.shape(0), "embedding_forward ids");
    std::vector<py::ssize_t> shape(ids.shape(), ids.shape() + ids.ndim());
    shape.push_back(table.shape(1));
    Array<T> y(shape);
    KernelCall call;
    embedding_forward<T>(call.out(y), call.in(ids), call.in(table), ids.size(), table.shape(1));
    call.finish();
    return y;
  }, py::arg("table"), py::arg("ids"), "table[ids]: shape ids.shape + (dim,).");
  k.def("embedding_backward", [](Array<T> dy, Array<int64_t> ids, int64_t vocab) {
    require_indices_below(ids, vocab, "embedding_backward ids");
    if (ids.size() == 0 || dy.size() % ids.size() != 0)
      throw ValueError("embedding_backward: expected dy of shape ids.shape + (dim,)");
    const int64_t dim = dy.size() / ids.size();
    Array<T> dtable({vocab, dim});
    std::fill(dtable.mutable_data(), dtable.mutable_data() + dtable.size(), T(0));
    KernelCall call;  // dtable accumulates: staged in and out
    embedding_backward<T>(call.inout(dtable), call.in(dy), call.in(ids), ids.size(), dim);
    call.finish();
    return dtable;
  }, py::arg("dy"), py::arg("ids"), py::arg("vocab"), "d loss / d table (vocab, dim), repeated ids summed.");

  k.def("normalization_forward", [](Array<T> x, Array<T> mean, Array<T> var) {
    require_size(var, mean.size(), "normalization_forward variance");
    if (mean.size() == 0 || x.size() % mean.size() != 0)
      throw ValueError("normalization_forward: x's size must be a multiple of the statistics' size");
    Array<T> y = empty_like(x);
    KernelCall call;
    normalization_forward<T>(call.out(y), call.in(x), call.in(mean), call.in(var), x.size(), mean.size());
    call.finish();
    return y;
  }, py::arg("x"), py::arg("mean"), py::arg("variance"), "(x - mean) / sqrt(variance), statistics repeating.");
  k.def("normalization_backward", [](Array<T> dy, Array<T> var) {
    if (var.size() == 0 || dy.size() % var.size() != 0)
      throw ValueError("normalization_backward: dy's size must be a multiple of the statistics' size");
    Array<T> dx = empty_like(dy);
    KernelCall call;
    normalization_backward<T>(call.out(dx), call.in(dy), call.in(var), dy.size(), var.size());
    call.finish();
    return dx;
  }, py::arg("dy"), py::arg("variance"));

  k.def("bidirectional_merge_forward", [](const std::string& mode, Array<T> a, Array<T> b) {
    const BidirectionalMerge m = parse_bidirectional_merge(mode);
    const auto [rows, u] = rows_by_last_axis(a, "bidirectional_merge_forward a");
    require_size(b, a.size(), "bidirectional_merge_forward b");
    std::vector<py::ssize_t> shape(a.shape(), a.shape() + a.ndim());
    if (m == BidirectionalMerge::Concat) shape.back() *= 2;
    Array<T> y(shape);
    KernelCall call;
    bidirectional_merge_forward<T>(m, call.out(y), call.in(a), call.in(b), rows, u);
    call.finish();
    return y;
  }, py::arg("mode"), py::arg("a"), py::arg("b"), "Bidirectional's merge over the last axis.");
  k.def("bidirectional_merge_backward", [](const std::string& mode, Array<T> dy, Array<T> a, Array<T> b) {
    const BidirectionalMerge m = parse_bidirectional_merge(mode);
    const auto [rows, u] = rows_by_last_axis(a, "bidirectional_merge_backward a");
    require_size(b, a.size(), "bidirectional_merge_backward b");
    require_size(dy, m == BidirectionalMerge::Concat ? 2 * a.size() : a.size(), "bidirectional_merge_backward dy");
    Array<T> da = empty_like(a), db = empty_like(b);
    KernelCall call;
    bidirectional_merge_backward<T>(m, call.out(da), call.out(db), call.in(dy), call.in(a), call.in(b), rows, u);
    call.finish();
    return py::make_tuple(da, db);
  }, py::arg("mode"), py::arg("dy"), py::arg("a"), py::arg("b"), "(d loss / d a, d loss / d b).");
}

}  // namespace

void def_training_kernel_hooks(py::module_& k);  // bind_training_kernels.cc

void bind_kernels(py::module_& m) {
  auto k = m.def_submodule("kernels", "Single kernels, float32 and float64 overloads.");
  def_gemm<float>(k);
  def_gemm<double>(k);
  k.def("gemm_isa", &gemm_isa, "The GEMM micro-kernel family in use: 'avx512', 'avx2' or 'portable'.");
  k.def("set_gemm_isa", &set_gemm_isa, py::arg("name"),
        "Use one GEMM micro-kernel family ('avx512', 'avx2', 'portable') or 'auto' (the CPU's best); "
        "ValueError when this CPU lacks it. For tests and benchmarks of each path.");
  def_layers<float>(k);
  def_layers<double>(k);
  def_loss_optim<float>(k);
  def_loss_optim<double>(k);
  def_training_kernel_hooks(k);
  def_merge<float>(k);
  def_merge<double>(k);
  def_sequence_kernels<float>(k);
  def_sequence_kernels<double>(k);
  k.def("peak_flops", [](double seconds, int threads) {
    py::gil_scoped_release release;
    return peak_flops(seconds, threads);
  }, py::arg("seconds"), py::arg("threads"),
     "Measured peak float32 FLOP/s on `threads` threads (register-resident FMA chains, about `seconds`).");
}

}  // namespace pydl::bind
