// Kernel entry points exposed one by one, in float32 and float64, for tests and benches.
#include "bind/common.h"
#include "kernels/activation.h"
#include "kernels/gemm.h"

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

}  // namespace

void bind_kernels(py::module_& m) {
  auto k = m.def_submodule("kernels", "Single kernels, float32 and float64 overloads.");
  def_gemm<float>(k);
  def_gemm<double>(k);
}

}  // namespace pydl::bind
