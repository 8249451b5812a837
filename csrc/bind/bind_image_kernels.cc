// Convolution, pooling and normalization kernels exposed one by one, float32 and float64,
// for tests and benches. Images are channels-last (N, H, W, C).
#include <memory>
#include <vector>

#include "bind/common.h"
#include "bind/kernel_call.h"
#include "core/sizes.h"
#include "kernels/conv2d.h"
#include "kernels/norm.h"
#include "kernels/pool.h"

namespace pydl::bind {
namespace {

// padding: "valid" | "same" | int | (ph, pw)
Conv2dArgs window(int64_t n, int64_t h, int64_t w, int64_t c, int64_t f, std::pair<int64_t, int64_t> k,
                  std::pair<int64_t, int64_t> s, std::pair<int64_t, int64_t> d, const py::object& padding) {
  std::string mode = "explicit";
  int64_t ph = 0, pw = 0;
  if (py::isinstance<py::str>(padding)) mode = padding.cast<std::string>();
  else if (py::isinstance<py::int_>(padding)) ph = pw = padding.cast<int64_t>();
  else std::tie(ph, pw) = padding.cast<std::pair<int64_t, int64_t>>();
  Conv2dArgs a = conv2d_args(h, w, c, f, k.first, k.second, s.first, s.second, d.first, d.second, mode, ph, pw, "kernel");
  a.n = n;
  return a;
}

// Argmax arrays as KernelCall stages them (C-contiguous int32).
using Index = py::array_t<int32_t, py::array::c_style | py::array::forcecast>;
inline Index arg32(const py::array_t<int32_t>& a) { return Index(a); }

template <typename T>
void need_rank(const Array<T>& a, int r, const char* what) {
  if (a.ndim() != r) throw ValueError(std::string(what) + ": expected rank " + std::to_string(r));
}

template <typename T>
void def_conv(py::module_& k) {
  using P = std::pair<int64_t, int64_t>;
  k.def("conv2d_forward", [](Array<T> x, Array<T> kern, std::optional<Array<T>> b, P strides, py::object padding,
                             P dilation, const std::string& act) {
    need_rank(x, 4, "x");
    need_rank(kern, 4, "kernel");
    if (kern.shape(2) != x.shape(3)) throw ValueError("conv2d: kernel channels differ from x channels");
    Conv2dArgs a = window(x.shape(0), x.shape(1), x.shape(2), x.shape(3), kern.shape(3), {kern.shape(0), kern.shape(1)},
                          strides, dilation, padding);
    if (b) require_size(*b, a.f, "conv2d_forward bias");
    const Activation activation = parse_activation(act);
    Array<T> y({a.n, a.oh, a.ow, a.f});
    const size_t ws_size = size_t(a.workspace_size() + 1);
    std::unique_ptr<T[]> ws(new T[ws_size]);  // uninitialised: im2col writes it all before reading
    KernelCall call;  // on the device pydl.kernels.on_device selected
    conv2d_forward<T>(call.out(y), nullptr, call.in(x), call.in(kern), b ? call.in(*b) : nullptr, activation, a,
                      static_cast<T*>(call.out_bytes(ws.get(), sizeof(T) * ws_size)));
    call.finish();
    return y;
  }, py::arg("x"), py::arg("kernel"), py::arg("bias") = py::none(), py::arg("strides") = P{1, 1},
     py::arg("padding") = "valid", py::arg("dilation") = P{1, 1}, py::arg("activation") = "linear");
  k.def("conv2d_backward", [](Array<T> dy, Array<T> x, Array<T> kern, P strides, py::object padding, P dilation,
                              bool use_bias) {
    require_rank(x, 4, "conv2d_backward x");
    require_rank(kern, 4, "conv2d_backward kernel");
    if (kern.shape(2) != x.shape(3)) throw ValueError("conv2d_backward: kernel channels differ from x channels");
    Conv2dArgs a = window(x.shape(0), x.shape(1), x.shape(2), x.shape(3), kern.shape(3), {kern.shape(0), kern.shape(1)},
                          strides, dilation, padding);
    if (dy.size() != a.n * a.oh * a.ow * a.f) throw ValueError("conv2d_backward: dy has the wrong size");
    Array<T> dx({x.shape(0), x.shape(1), x.shape(2), x.shape(3)});
    Array<T> dk({kern.shape(0), kern.shape(1), kern.shape(2), kern.shape(3)});
    Array<T> db({a.f});
    std::fill(dk.mutable_data(), dk.mutable_data() + dk.size(), T(0));
    std::fill(db.mutable_data(), db.mutable_data() + db.size(), T(0));
    const size_t ws_size = size_t(a.workspace_size() + 1), reduce_size = size_t(conv2d_reduce_workspace(a));
    std::unique_ptr<T[]> ws(new T[ws_size]);
    std::unique_ptr<double[]> reduce(new double[reduce_size]);
    KernelCall call;  // dk and db accumulate: staged with their zeros (inout)
    // dy is read, never written: conv2d_backward overwrites it with the gradient before the
    // activation, which for Linear (all this entry takes) is dy itself (no copy of the caller's).
    T* g = const_cast<T*>(call.in(dy));
    conv2d_backward<T>(call.out(dx), call.inout(dk), use_bias ? call.inout(db) : nullptr, g, call.in(x),
                       nullptr, nullptr, call.in(kern), Activation::Linear, a,
                       static_cast<T*>(call.out_bytes(ws.get(), sizeof(T) * ws_size)),
                       static_cast<double*>(call.out_bytes(reduce.get(), sizeof(double) * reduce_size)));
    call.finish();
    return py::make_tuple(dx, dk, db);
  }, py::arg("dy"), py::arg("x"), py::arg("kernel"), py::arg("strides") = P{1, 1}, py::arg("padding") = "valid",
     py::arg("dilation") = P{1, 1}, py::arg("use_bias") = true);

  k.def("pool2d_forward", [](Array<T> x, const std::string& kind, P pool, std::optional<P> strides, const std::string& padding) {
    need_rank(x, 4, "x");
    Conv2dArgs a = window(x.shape(0), x.shape(1), x.shape(2), x.shape(3), x.shape(3), pool, strides.value_or(pool),
                          {1, 1}, py::str(padding));
    Array<T> y({a.n, a.oh, a.ow, a.c});
    Index arg({a.n, a.oh, a.ow, a.c});
    if (kind != "max" && kind != "avg") throw ValueError("pool kind must be 'max' or 'avg'");
    if (kind == "avg") std::fill(arg.mutable_data(), arg.mutable_data() + arg.size(), 0);  // not written by avg
    KernelCall call;
    if (kind == "max") max_pool2d_forward<T>(call.out(y), call.out(arg), call.in(x), a);
    else avg_pool2d_forward<T>(call.out(y), call.in(x), a);
    call.finish();
    return py::make_tuple(y, arg);
  }, py::arg("x"), py::arg("kind"), py::arg("pool_size") = P{2, 2}, py::arg("strides") = py::none(),
     py::arg("padding") = "valid");
  k.def("pool2d_backward", [](Array<T> dy, py::array_t<int32_t> argmax, std::vector<int64_t> x_shape,
                              const std::string& kind, P pool, std::optional<P> strides, const std::string& padding) {
    if (x_shape.size() != 4) throw ValueError("pool2d_backward: x_shape must be (N, H, W, C)");
    checked_product(x_shape, "pool2d_backward x_shape");
    checked_mul(x_shape[0], x_shape[1] * x_shape[2] * x_shape[3], "pool2d_backward x_shape");
    Conv2dArgs a = window(x_shape[0], x_shape[1], x_shape[2], x_shape[3], x_shape[3], pool, strides.value_or(pool),
                          {1, 1}, py::str(padding));
    require_size(dy, a.n * a.oh * a.ow * a.c, "pool2d_backward dy");
    if (kind == "max") {
      require_size(argmax, dy.size(), "pool2d_backward argmax");
      require_indices(argmax, a.h * a.w * a.c, "pool2d_backward argmax");
    }
    Array<T> dx(x_shape);
    KernelCall call;
    if (kind == "max") max_pool2d_backward<T>(call.out(dx), call.in(dy), call.in(arg32(argmax)), a);
    else avg_pool2d_backward<T>(call.out(dx), call.in(dy), a);
    call.finish();
    return dx;
  }, py::arg("dy"), py::arg("argmax"), py::arg("x_shape"), py::arg("kind"), py::arg("pool_size") = P{2, 2},
     py::arg("strides") = py::none(), py::arg("padding") = "valid");
  k.def("global_pool_forward", [](Array<T> x, const std::string& kind) {
    need_rank(x, 4, "x");
    const int64_t n = x.shape(0), p = x.shape(1) * x.shape(2), c = x.shape(3);
    if (p < 1) throw ValueError("global_pool_forward: expected images with at least one pixel");
    Array<T> y({n, c});
    Index arg({n, c});
    if (kind != "max") std::fill(arg.mutable_data(), arg.mutable_data() + arg.size(), 0);  // not written by avg
    KernelCall call;
    if (kind == "max") global_max_pool_forward<T>(call.out(y), call.out(arg), call.in(x), n, p, c);
    else global_avg_pool_forward<T>(call.out(y), call.in(x), n, p, c);
    call.finish();
    return py::make_tuple(y, arg);
  }, py::arg("x"), py::arg("kind"));
  k.def("global_pool_backward", [](Array<T> dy, py::array_t<int32_t> argmax, std::vector<int64_t> x_shape,
                                   const std::string& kind) {
    if (x_shape.size() != 4) throw ValueError("global_pool_backward: x_shape must be (N, H, W, C)");
    checked_product(x_shape, "global_pool_backward x_shape");  // sizes from the caller: no overflow
    const int64_t n = x_shape[0], p = x_shape[1] * x_shape[2], c = x_shape[3];
    if (p < 1) throw ValueError("global_pool_backward: expected images with at least one pixel");
    require_size(dy, n * c, "global_pool_backward dy");
    if (kind == "max") {
      require_size(argmax, n * c, "global_pool_backward argmax");
      require_indices(argmax, p, "global_pool_backward argmax");
    }
    Array<T> dx(x_shape);
    KernelCall call;
    if (kind == "max") global_max_pool_backward<T>(call.out(dx), call.in(dy), call.in(arg32(argmax)), n, p, c);
    else global_avg_pool_backward<T>(call.out(dx), call.in(dy), n, p, c);
    call.finish();
    return dx;
  }, py::arg("dy"), py::arg("argmax"), py::arg("x_shape"), py::arg("kind"));
}

template <typename T>
void def_norm(py::module_& k) {
  // x viewed as (rows, channels) with channels = last axis.
  k.def("batchnorm_forward", [](Array<T> x, Array<T> gamma, Array<T> beta, py::array_t<T> moving_mean,
                                py::array_t<T> moving_var, bool training, double momentum, double eps) {
    const auto [rows, c] = rows_by_last_axis(x, "batchnorm_forward x");
    for (const py::array* a : {static_cast<py::array*>(&gamma), static_cast<py::array*>(&beta),
                               static_cast<py::array*>(&moving_mean), static_cast<py::array*>(&moving_var)})
      require_size(*a, c, "batchnorm_forward parameters");
    Array<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    Array<double> stats({int64_t(2), c});
    for (const py::array* a : {static_cast<py::array*>(&moving_mean), static_cast<py::array*>(&moving_var)})
      if (!(a->flags() & py::array::c_style) || !a->writeable())
        throw ValueError("batchnorm_forward: expected writable C-contiguous moving statistics (updated in place)");
    KernelCall call;  // the moving statistics are updated in place: staged in and out
    T* mm = static_cast<T*>(call.inout_bytes(moving_mean.mutable_data(), sizeof(T) * size_t(c)));
    T* mv = static_cast<T*>(call.inout_bytes(moving_var.mutable_data(), sizeof(T) * size_t(c)));
    if (training) {
      std::vector<double> ws(batchnorm_workspace(rows, c));
      double* st = call.out(stats);
      double* w = static_cast<double*>(call.work_bytes(ws.data(), sizeof(double) * ws.size()));
      batchnorm_forward_train<T>(call.out(y), st, st + c, mm, mv, call.in(x), call.in(gamma), call.in(beta), rows, c,
                                 momentum, eps, w);
    } else {
      std::fill(stats.mutable_data(), stats.mutable_data() + stats.size(), 0.0);  // unused in inference
      batchnorm_forward_infer<T>(call.out(y), call.in(x), call.in(gamma), call.in(beta), mm, mv, rows, c, eps);
    }
    call.finish();
    return py::make_tuple(y, stats);
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("moving_mean"), py::arg("moving_var"),
     py::arg("training"), py::arg("momentum") = 0.9, py::arg("epsilon") = 1e-5);
  k.def("batchnorm_backward", [](Array<T> dy, Array<T> x, Array<T> gamma, Array<double> stats,
                                 Array<T> moving_mean, Array<T> moving_var, bool training, double eps) {
    const auto [rows, c] = rows_by_last_axis(x, "batchnorm_backward x");
    require_size(dy, x.size(), "batchnorm_backward dy");
    require_size(gamma, c, "batchnorm_backward gamma");
    require_size(stats, 2 * c, "batchnorm_backward stats");
    require_size(moving_mean, c, "batchnorm_backward moving_mean");
    require_size(moving_var, c, "batchnorm_backward moving_var");
    Array<T> dx(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    Array<T> dg({c}), dbeta({c});
    std::fill(dg.mutable_data(), dg.mutable_data() + c, T(0));
    std::fill(dbeta.mutable_data(), dbeta.mutable_data() + c, T(0));
    std::vector<double> ws(batchnorm_workspace(rows, c));
    KernelCall call;  // dgamma and dbeta accumulate: staged in and out
    double* w = static_cast<double*>(call.work_bytes(ws.data(), sizeof(double) * ws.size()));
    if (training) {
      const double* st = call.in(stats);
      batchnorm_backward_train<T>(call.out(dx), call.inout(dg), call.inout(dbeta), call.in(dy), call.in(x),
                                  call.in(gamma), st, st + c, rows, c, w);
    } else {
      batchnorm_backward_infer<T>(call.out(dx), call.inout(dg), call.inout(dbeta), call.in(dy), call.in(x),
                                  call.in(gamma), call.in(moving_mean), call.in(moving_var), rows, c, eps, w);
    }
    call.finish();
    return py::make_tuple(dx, dg, dbeta);
  }, py::arg("dy"), py::arg("x"), py::arg("gamma"), py::arg("stats"), py::arg("moving_mean"),
     py::arg("moving_var"), py::arg("training"), py::arg("epsilon") = 1e-5);
  k.def("layernorm_forward", [](Array<T> x, Array<T> gamma, Array<T> beta, double eps) {
    const auto [rows, c] = rows_by_last_axis(x, "layernorm_forward x");
    require_size(gamma, c, "layernorm_forward gamma");
    require_size(beta, c, "layernorm_forward beta");
    Array<T> y(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    Array<double> stats({int64_t(2), rows});
    KernelCall call;
    double* st = call.out(stats);
    layernorm_forward<T>(call.out(y), st, st + rows, call.in(x), call.in(gamma), call.in(beta), rows, c, eps);
    call.finish();
    return py::make_tuple(y, stats);
  }, py::arg("x"), py::arg("gamma"), py::arg("beta"), py::arg("epsilon") = 1e-5);
  k.def("layernorm_backward", [](Array<T> dy, Array<T> x, Array<T> gamma, Array<double> stats) {
    const auto [rows, c] = rows_by_last_axis(x, "layernorm_backward x");
    require_size(dy, x.size(), "layernorm_backward dy");
    require_size(gamma, c, "layernorm_backward gamma");
    require_size(stats, 2 * rows, "layernorm_backward stats");
    Array<T> dx(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    Array<T> dg({c}), dbeta({c});
    std::fill(dg.mutable_data(), dg.mutable_data() + c, T(0));
    std::fill(dbeta.mutable_data(), dbeta.mutable_data() + c, T(0));
    KernelCall call;  // dgamma and dbeta accumulate: staged in and out
    const double* st = call.in(stats);
    layernorm_backward<T>(call.out(dx), call.inout(dg), call.inout(dbeta), call.in(dy), call.in(x), call.in(gamma), st,
                          st + rows, rows, c);
    call.finish();
    return py::make_tuple(dx, dg, dbeta);
  }, py::arg("dy"), py::arg("x"), py::arg("gamma"), py::arg("stats"));
}

}  // namespace

void bind_image_kernels(py::module_& m) {
  auto k = m.attr("kernels").cast<py::module_>();
  def_conv<float>(k);
  def_conv<double>(k);
  def_norm<float>(k);
  def_norm<double>(k);
}

}  // namespace pydl::bind
