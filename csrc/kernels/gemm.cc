// The GEMM driver: BLIS-style blocking around a register micro-kernel (gemm_tile.h).
//   for each block of rows of op(A) (kept in L3) and step of K (kc, fixed by K alone):
//     pack the A block into mr-row micro-panels (op(A) = A, and a small A^T, are read in place)
//     for each block of columns of op(B) (kept in L2): pack it into nr-column micro-panels,
//       then run every (A micro-panel, B micro-panel) tile; the last K step adds the bias
//       and applies the activation to the tile while it is in L1.
// Threads each take a part of C (whole micro-tiles) with packing buffers of their own: one
// fork and join per call, no barrier. No tile's arithmetic depends on its part (see gemm.h).
#include "kernels/gemm.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <string>

#include "core/device.h"
#include "core/buffer.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "kernels/gemm_tile.h"

namespace pydl {
namespace gemm_detail {
namespace {

// Cache budgets (bytes), for the AMD Zen 4 / Intel server cores pydl is measured on (32-48 KB
// L1, 1-2 MB L2 per core). The block sizes change speed only; the K step also fixes where the
// sums over k are split (by K alone, the same for every thread count).
constexpr int64_t kKcBytes = 384 * 4;        // K step: an 8-row A micro-panel of ~12 KB stays in L1
constexpr int64_t kBBlockBytes = 512 << 10;  // packed B block (L2)
constexpr int64_t kABlockBytes = 4 << 20;    // packed A block (L3): one block for most parts
// op(B) = B is read in place, not packed, up to this many rows (each element of B serves too
// few rows to pay back a copy), or for any rows when its row stride is not a multiple of 4 KB
// (strides that are map B's rows onto a few cache sets). Measured on the training shapes of
// benches/: in place as fast as packed, and no copy of B per thread.
constexpr int64_t kDirectBRows = 16;
constexpr int64_t kConflictStride = 4096;
constexpr int64_t kInPlaceTransAPanels = 2;

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// The K step: K in equal steps of at most kc_max, so the reduction order is fixed by K alone.
int64_t k_step(int64_t k, int64_t kc_max) { return ceil_div(k, ceil_div(k, kc_max)); }

template <typename T>
struct Job {
  const MicroKernel<T>* uk;
  int64_t m, n, k;
  const T* a; int64_t lda; bool ta;
  const T* b; int64_t ldb; bool tb;
  T* c; int64_t ldc;
  T alpha, beta;
  const T* bias;
  Activation act;  // elementwise (softmax is applied after, over whole rows)
  int64_t kc;      // the K step
  ImplicitPackB<T> implicit_b = nullptr;  // packs B in place of uk->pack_b (b is unused)
  const void* implicit_ctx = nullptr;
};

template <typename T>
void run_tile(const Job<T>& j, const Tile<T>& tile, int rows, int64_t cols, bool last) {
  const MicroKernel<T>& uk = *j.uk;
  // A right edge of at most W columns (Dense(10), Dense(2)) takes the one-register kernel:
  // the same per-element arithmetic at half the FMAs of the full-width one.
  const bool narrow = cols <= uk.lanes && uk.lanes < uk.nr;
  const int width = narrow ? uk.lanes : uk.nr;
  const TileFn<T> fn = (narrow ? uk.rows_narrow : uk.rows)[rows - 1];
  if (cols == width) {
    fn(tile);
  } else {
    // Ragged right edge: the same kernel over a full-width copy of the tile.
    constexpr int kMaxNr = 64 / int(sizeof(T)) * 2;
    alignas(64) T buf[kMaxMr * kMaxNr] = {};
    alignas(64) T bias[kMaxNr] = {};
    Tile<T> t = tile;
    if (t.beta != T(0))
      for (int r = 0; r < rows; ++r) std::copy(tile.c + r * tile.ldc, tile.c + r * tile.ldc + cols, buf + r * width);
    if (t.bias) {
      std::copy(tile.bias, tile.bias + cols, bias);
      t.bias = bias;
    }
    t.c = buf;
    t.ldc = width;
    fn(t);
    for (int r = 0; r < rows; ++r) std::copy(buf + r * width, buf + r * width + cols, tile.c + r * tile.ldc);
  }
  if (last && j.act != Activation::Linear && !tile.relu)
    for (int r = 0; r < rows; ++r) activation_inplace_span(tile.c + r * tile.ldc, cols, j.act);
}

// C[r0:r1, c0:c1] on the calling thread, with its own packing buffers.
template <typename T>
void run_part(const Job<T>& j, int64_t r0, int64_t r1, int64_t c0, int64_t c1) {
  const int mr = j.uk->mr, nr = j.uk->nr;
  const int64_t kc_bytes = j.kc * int64_t(sizeof(T));
  const int64_t mb = std::min(ceil_div(r1 - r0, mr), std::max<int64_t>(1, kABlockBytes / (kc_bytes * mr))) * mr;
  const int64_t nb = std::min(ceil_div(c1 - c0, nr), std::max<int64_t>(1, kBBlockBytes / (kc_bytes * nr))) * nr;
  const bool direct_b = !j.implicit_b && !j.tb &&
                        (r1 - r0 <= kDirectBRows || j.ldb * int64_t(sizeof(T)) % kConflictStride != 0);
  // op(A) = A is read in place (its rows are the micro-panel's rows, each read in k order),
  // and so is op(A) = A^T when few B panels would reuse a packed copy: measured as fast or
  // faster on every shape of benches/; a large A^T read in place strides a page per k.
  const bool in_place_a = !j.ta || c1 - c0 <= kInPlaceTransAPanels * nr;
  // Grown once per thread, reused by every later call. Host memory always (this is the CPU
  // GEMM; under the test-only device emulation it runs inside a CUDA DeviceScope).
  static thread_local Buffer<T> apack, bpack;
  if (!in_place_a) apack.resize(mb * j.kc, Device::CPU);
  bpack.resize(nb * j.kc, Device::CPU);
  for (int64_t i0 = r0; i0 < r1; i0 += mb) {
    const int64_t mi = std::min(mb, r1 - i0), ap = ceil_div(mi, mr);
    for (int64_t p0 = 0; p0 < j.k; p0 += j.kc) {
      const int64_t kc = std::min(j.kc, j.k - p0);
      const bool first = p0 == 0, last = p0 + kc == j.k;
      if (!in_place_a)
        for (int64_t p = 0; p < ap; ++p)
          j.uk->pack_a(apack.data() + p * mr * kc, j.a, j.lda, j.ta, i0 + p * mr, std::min<int64_t>(mr, mi - p * mr), p0, kc);
      for (int64_t j0 = c0; j0 < c1; j0 += nb) {
        const int64_t nj = std::min(nb, c1 - j0), bp = ceil_div(nj, nr);
        // Read in place, B's ragged last panel is still packed (to be padded).
        const int64_t pack_from = direct_b ? (nj % nr ? bp - 1 : bp) : 0;
        for (int64_t q = pack_from; q < bp; ++q)
          if (j.implicit_b)
            j.implicit_b(j.implicit_ctx, bpack.data() + q * nr * kc, p0, kc, j0 + q * nr,
                         int(std::min<int64_t>(nr, nj - q * nr)), nr);
          else
            j.uk->pack_b(bpack.data() + q * nr * kc, j.b, j.ldb, j.tb, p0, kc, j0 + q * nr, std::min<int64_t>(nr, nj - q * nr));
        for (int64_t p = 0; p < ap; ++p)
          for (int64_t q = 0; q < bp; ++q) {
            const bool packed = q >= pack_from;
            const bool wide = mi - p * mr == 1 && q + kWideRow <= pack_from;
            Tile<T> tile;
            tile.kc = kc;
            if (in_place_a) {
              const int64_t row = i0 + p * mr;
              tile.a = j.ta ? j.a + p0 * j.lda + row : j.a + row * j.lda + p0;
              tile.a_k_step = j.ta ? j.lda : 1;
              tile.a_row_step = j.ta ? 1 : j.lda;
            } else {
              tile.a = apack.data() + p * mr * kc;
              tile.a_k_step = mr;
              tile.a_row_step = 1;
            }
            tile.b = packed ? bpack.data() + q * nr * kc : j.b + p0 * j.ldb + j0 + q * nr;
            tile.ldb = packed ? nr : j.ldb;
            tile.c = j.c + (i0 + p * mr) * j.ldc + j0 + q * nr;
            tile.ldc = j.ldc;
            tile.alpha = j.alpha;
            tile.beta = first ? j.beta : T(1);
            tile.bias = last && j.bias ? j.bias + j0 + q * nr : nullptr;
            tile.relu = last && j.act == Activation::ReLU;  // in the kernel's epilogue, while in registers
            if (wide) {  // a lone row over B in place: kWideRow panels at once
              j.uk->row_wide(tile);
              if (last && j.act != Activation::Linear && !tile.relu)
                activation_inplace_span(tile.c, kWideRow * nr, j.act);
              q += kWideRow - 1;
              continue;
            }
            run_tile(j, tile, int(std::min<int64_t>(mr, mi - p * mr)), std::min<int64_t>(nr, nj - q * nr), last);
          }
      }
    }
  }
}

// The whole product on up to nt threads: C cut along its longer side into parts of whole
// micro-tiles, one per thread, each packing its own copy of the other operand (the smaller
// one): cheaper than the barriers of packing it together.
template <typename T>
void run(const Job<T>& j, int nt) {
  const bool by_rows = j.m >= j.n;
  const int64_t dim = by_rows ? j.m : j.n, unit = by_rows ? j.uk->mr : j.uk->nr;
  const int64_t units = ceil_div(dim, unit);
  const int parts = int(std::min<int64_t>(nt, units));
  auto part = [&](int p) {
    const int64_t lo = std::min(dim, units * p / parts * unit), hi = std::min(dim, units * (p + 1) / parts * unit);
    if (lo >= hi) return;
    if (by_rows) run_part(j, lo, hi, 0, j.n);
    else run_part(j, 0, j.m, lo, hi);
  };
  if (parts < 2) return part(0);
#pragma omp parallel num_threads(parts)
  {
    const int threads = omp_get_num_threads(), t = omp_get_thread_num();
    if (t == 0 && threads > 1) split_regions().fetch_add(1, std::memory_order_relaxed);
    for (int p = t; p < parts; p += threads) part(p);  // fewer threads than asked: some take more parts
  }
}

// C = beta * C + bias, then the activation: what the product is when K == 0 or alpha == 0.
template <typename T>
void scale_only(Matrix<T> c, T beta, const T* bias, Activation act) {
  for (int64_t i = 0; i < c.rows; ++i) {
    T* row = c.row(i);
    for (int64_t jj = 0; jj < c.cols; ++jj) row[jj] = (beta == T(0) ? T(0) : beta * row[jj]) + (bias ? bias[jj] : T(0));
    if (act != Activation::Softmax) activation_inplace_span(row, c.cols, act);
  }
}

template <typename T>
const MicroKernel<T>* best_kernel() {
  if (auto* k = avx512_kernel<T>()) return k;
  if (auto* k = avx2_kernel<T>()) return k;
  return portable_kernel<T>();
}

template <typename T>
std::atomic<const MicroKernel<T>*>& active_kernel() {
  static std::atomic<const MicroKernel<T>*> k{best_kernel<T>()};
  return k;
}

}  // namespace

template <typename T>
const MicroKernel<T>& current_kernel() {
  return *active_kernel<T>().load();
}
template const MicroKernel<float>& current_kernel<float>();
template const MicroKernel<double>& current_kernel<double>();

namespace {
std::string shape_str(int64_t r, int64_t c) { return "(" + std::to_string(r) + ", " + std::to_string(c) + ")"; }

}  // namespace
}  // namespace gemm_detail

std::string gemm_isa() { return gemm_detail::active_kernel<float>().load()->isa; }

void set_gemm_isa(const std::string& name) {
  using namespace gemm_detail;
  if (name == "auto") {
    active_kernel<float>().store(best_kernel<float>());
    active_kernel<double>().store(best_kernel<double>());
    return;
  }
  const MicroKernel<float>* f = nullptr;
  const MicroKernel<double>* d = nullptr;
  if (name == "avx512") f = avx512_kernel<float>(), d = avx512_kernel<double>();
  else if (name == "avx2") f = avx2_kernel<float>(), d = avx2_kernel<double>();
  else if (name == "portable") f = portable_kernel<float>(), d = portable_kernel<double>();
  else throw ValueError("set_gemm_isa: expected 'auto', 'avx512', 'avx2' or 'portable', got '" + name + "'");
  if (!f || !d) throw ValueError("set_gemm_isa: this CPU (or build) has no " + name + " instructions");
  active_kernel<float>().store(f);
  active_kernel<double>().store(d);
}

template <typename T>
void gemm(Matrix<T> c, Matrix<const T> a, bool trans_a, Matrix<const T> b, bool trans_b, T alpha,
          T beta, const T* bias, Activation act) {
  PYDL_DEVICE_DISPATCH(gemm, c, a, trans_a, b, trans_b, alpha, beta, bias, act);
  using namespace gemm_detail;
  const int64_t m = trans_a ? a.cols : a.rows;
  const int64_t k = trans_a ? a.rows : a.cols;
  const int64_t kb = trans_b ? b.cols : b.rows;
  const int64_t n = trans_b ? b.rows : b.cols;
  if (k != kb || c.rows != m || c.cols != n)
    throw ValueError("gemm: op(A) " + shape_str(m, k) + " @ op(B) " + shape_str(kb, n) +
                     " does not fit C " + shape_str(c.rows, c.cols));
  if (m == 0 || n == 0) return;
  if (k == 0 || alpha == T(0)) {
    scale_only(c, beta, bias, act);
  } else {
    Job<T> j;
    j.uk = active_kernel<T>().load();
    j.m = m, j.n = n, j.k = k;
    j.a = a.data, j.lda = a.cols, j.ta = trans_a;
    j.b = b.data, j.ldb = b.cols, j.tb = trans_b;
    j.c = c.data, j.ldc = c.cols;
    j.alpha = alpha, j.beta = beta, j.bias = bias;
    j.act = act == Activation::Softmax ? Activation::Linear : act;
    j.kc = k_step(k, kKcBytes / int64_t(sizeof(T)));
    const double flops = 2.0 * double(m) * double(n) * double(k);
    // Inside a parallel region (a kernel splitting its own work over threads): this thread only.
    run(j, flops < kForkFlops || omp_in_parallel() ? 1 : omp_get_max_threads());
  }
  if (act == Activation::Softmax) activation_forward<T>(c, c, Activation::Softmax);
}

template <typename T>
void gemm_detail::gemm_implicit_b(Matrix<T> c, Matrix<const T> a, bool trans_a, ImplicitPackB<T> pack_b,
                                  const void* ctx, T alpha, T beta) {
  using namespace gemm_detail;
  const int64_t m = trans_a ? a.cols : a.rows, k = trans_a ? a.rows : a.cols;
  if (c.rows != m) throw ValueError("gemm_implicit_b: op(A) " + shape_str(m, k) + " does not fit C " + shape_str(c.rows, c.cols));
  if (m == 0 || c.cols == 0) return;
  if (k == 0 || alpha == T(0)) return scale_only(c, beta, static_cast<const T*>(nullptr), Activation::Linear);
  Job<T> j;
  j.uk = active_kernel<T>().load();
  j.m = m, j.n = c.cols, j.k = k;
  j.a = a.data, j.lda = a.cols, j.ta = trans_a;
  j.b = nullptr, j.ldb = 0, j.tb = false;
  j.c = c.data, j.ldc = c.cols;
  j.alpha = alpha, j.beta = beta, j.bias = nullptr;
  j.act = Activation::Linear;
  j.kc = k_step(k, kKcBytes / int64_t(sizeof(T)));
  j.implicit_b = pack_b;
  j.implicit_ctx = ctx;
  const double flops = 2.0 * double(m) * double(j.n) * double(k);
  run(j, flops < kForkFlops || omp_in_parallel() ? 1 : omp_get_max_threads());
}
template void gemm_detail::gemm_implicit_b<float>(Matrix<float>, Matrix<const float>, bool, ImplicitPackB<float>,
                                                  const void*, float, float);
template void gemm_detail::gemm_implicit_b<double>(Matrix<double>, Matrix<const double>, bool, ImplicitPackB<double>,
                                                   const void*, double, double);

template void gemm<float>(Matrix<float>, Matrix<const float>, bool, Matrix<const float>, bool,
                          float, float, const float*, Activation);
template void gemm<double>(Matrix<double>, Matrix<const double>, bool, Matrix<const double>, bool,
                           double, double, const double*, Activation);

}  // namespace pydl
