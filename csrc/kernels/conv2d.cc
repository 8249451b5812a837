#include "kernels/conv2d.h"

#include <omp.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "core/device.h"
#include "core/errors.h"
#include "core/sizes.h"
#include "core/parallel.h"
#include "core/simd.h"
#include "kernels/activation_formulas.h"
#include "kernels/dense.h"
#include "kernels/gemm.h"
#include "kernels/gemm_tile.h"
#include "kernels/reduce.h"

namespace pydl {
namespace {

// Rows [r0, r1) of the im2col matrix of the image group starting at image n0 (row r: output
// pixel r of the group). A clone per ISA (core/simd.h): the channel runs copy in full-width
// vectors; short runs (1 channel for a first layer) stay plain loops, not memcpy calls.
template <typename T>
PYDL_ALWAYS_INLINE void im2col_rows_impl(T* __restrict cols, const T* __restrict x, const Conv2dArgs& a, int64_t n0,
                                         int64_t r0, int64_t r1) {
  const int64_t pix = a.out_pixels(), patch = a.patch();
  for (int64_t r = r0; r < r1; ++r) {
    const int64_t n = n0 + r / pix, p = r % pix, oy = p / a.ow, ox = p % a.ow;
    T* dst = cols + r * patch;
    const T* img = x + n * a.h * a.w * a.c;
    for (int64_t i = 0; i < a.kh; ++i) {
      const int64_t iy = oy * a.sh - a.pad_top + i * a.dh;
      for (int64_t j = 0; j < a.kw; ++j, dst += a.c) {
        const int64_t ix = ox * a.sw - a.pad_left + j * a.dw;
        if (iy < 0 || iy >= a.h || ix < 0 || ix >= a.w) {
          for (int64_t ch = 0; ch < a.c; ++ch) dst[ch] = T(0);
        } else {
          const T* src = img + (iy * a.w + ix) * a.c;
          for (int64_t ch = 0; ch < a.c; ++ch) dst[ch] = src[ch];
        }
      }
    }
  }
}
PYDL_SIMD_CLONES void im2col_rows(float* __restrict cols, const float* __restrict x, const Conv2dArgs& a,
                                  int64_t n0, int64_t r0, int64_t r1) {
  im2col_rows_impl(cols, x, a, n0, r0, r1);
}
PYDL_SIMD_CLONES void im2col_rows(double* __restrict cols, const double* __restrict x, const Conv2dArgs& a,
                                  int64_t n0, int64_t r0, int64_t r1) {
  im2col_rows_impl(cols, x, a, n0, r0, r1);
}
template <typename T>
void im2col(T* cols, const T* x, const Conv2dArgs& a, int64_t n0, int64_t rows) {
  parallel_range(rows, std::max<int64_t>(1, 8192 / std::max<int64_t>(a.patch(), 1)),
                 [&](int64_t r0, int64_t r1) { im2col_rows(cols, x, a, n0, r0, r1); });
}

// dx of images [n0 + i0, n0 + i1) = scatter-add of the column gradients (serial inside an
// image: the sum order is fixed). A clone per ISA, as im2col_rows.
template <typename T>
PYDL_ALWAYS_INLINE void col2im_images_impl(T* __restrict dx, const T* __restrict dcols, const Conv2dArgs& a,
                                           int64_t n0, int64_t i0, int64_t i1) {
  const int64_t pix = a.out_pixels(), patch = a.patch();
  for (int64_t li = i0; li < i1; ++li) {
    T* img = dx + (n0 + li) * a.h * a.w * a.c;
    std::fill(img, img + a.h * a.w * a.c, T(0));
    for (int64_t p = 0; p < pix; ++p) {
      const int64_t oy = p / a.ow, ox = p % a.ow;
      const T* src = dcols + (li * pix + p) * patch;
      for (int64_t i = 0; i < a.kh; ++i) {
        const int64_t iy = oy * a.sh - a.pad_top + i * a.dh;
        for (int64_t j = 0; j < a.kw; ++j, src += a.c) {
          const int64_t ix = ox * a.sw - a.pad_left + j * a.dw;
          if (iy < 0 || iy >= a.h || ix < 0 || ix >= a.w) continue;
          T* d = img + (iy * a.w + ix) * a.c;
          for (int64_t ch = 0; ch < a.c; ++ch) d[ch] += src[ch];
        }
      }
    }
  }
}
PYDL_SIMD_CLONES void col2im_images(float* __restrict dx, const float* __restrict dcols, const Conv2dArgs& a,
                                    int64_t n0, int64_t i0, int64_t i1) {
  col2im_images_impl(dx, dcols, a, n0, i0, i1);
}
PYDL_SIMD_CLONES void col2im_images(double* __restrict dx, const double* __restrict dcols, const Conv2dArgs& a,
                                    int64_t n0, int64_t i0, int64_t i1) {
  col2im_images_impl(dx, dcols, a, n0, i0, i1);
}
template <typename T>
void col2im(T* dx, const T* dcols, const Conv2dArgs& a, int64_t n0, int64_t images) {
  parallel_range(images, 1, [&](int64_t i0, int64_t i1) { col2im_images(dx, dcols, a, n0, i0, i1); });
}

// Columns per thread in the forward GEMM (values): 512 KB in float, a part of any server L2.
constexpr int64_t kThreadColumns = 128 << 10;

// Few input channels (an image's first layer): the im2col matrix has a handful of columns
// and GEMM runs far below its peak, so convolve directly, vectorised over the filters.
bool use_direct(const Conv2dArgs& a) { return a.c <= 4 && a.f >= 8; }

// Register blocking of the direct convolution: kDirectPixels consecutive output pixels of a
// row by one 64-byte vector of filters, their sums held in registers over the whole window.
// GCC vector types, not intrinsics: each clone (core/simd.h) lowers them to its own ISA (one
// zmm, two ymm or four xmm); the auto-vectoriser did not keep such a tile in registers.
constexpr int kDirectPixels = 8;
template <typename T>
struct DirectVec {
  typedef T V __attribute__((vector_size(64)));
  static constexpr int kLanes = 64 / int(sizeof(T));
  // By reference: a 64-byte vector passed by value has a different ABI with and without AVX-512.
  PYDL_ALWAYS_INLINE static void load(V& v, const T* p) { std::memcpy(&v, p, sizeof v); }
  PYDL_ALWAYS_INLINE static void store(T* p, const V& v) { std::memcpy(p, &v, sizeof v); }
};

// Outputs [j0, j0 + lanes) of P consecutive pixels (oy, ox0..) of one image: bias, then one
// multiply-add per tap in (i, j, ch) order, taps off the image skipped; the sums go to pre
// (when given) and, through ReLU when relu, to y (rows of f). The caller gives P > 1 only
// where every tap of every pixel is on the image, so each output is the same chain whatever
// block it falls in (results never depend on the block or the thread split). C: the input
// channels when known at compile time (0: a.c), so the channel loop unrolls.
template <typename T, int P, int C>
PYDL_ALWAYS_INLINE void direct_block(T* __restrict y, T* __restrict pre, bool relu, const T* __restrict img,
                                     const T* __restrict k, const T* __restrict b, const Conv2dArgs& a,
                                     int64_t oy, int64_t ox0, int64_t j0) {
  using D = DirectVec<T>;
  const int64_t c = C ? C : a.c;
  typename D::V acc[P], bias{}, kv;
  if (b) D::load(bias, b + j0);
  for (int p = 0; p < P; ++p) acc[p] = bias;
  const int64_t step = a.sw * c;  // from one output pixel's input to the next one's
  for (int64_t i = 0; i < a.kh; ++i) {
    const int64_t iy = oy * a.sh - a.pad_top + i * a.dh;
    if (iy < 0 || iy >= a.h) continue;
    for (int64_t jj = 0; jj < a.kw; ++jj) {
      const int64_t ix = ox0 * a.sw - a.pad_left + jj * a.dw;
      if (ix < 0 || ix >= a.w) continue;
      const T* px = img + (iy * a.w + ix) * c;
      const T* krow = k + (i * a.kw + jj) * c * a.f + j0;
      for (int64_t ch = 0; ch < c; ++ch) {
        D::load(kv, krow + ch * a.f);
        for (int p = 0; p < P; ++p) acc[p] += px[p * step + ch] * kv;
      }
    }
  }
  for (int p = 0; p < P; ++p) {
    if (pre) D::store(pre + p * a.f + j0, acc[p]);
    if (relu) acc[p] = acc[p] < T(0) ? T(0) : acc[p];  // act::relu, lane by lane
    D::store(y + p * a.f + j0, acc[p]);
  }
}

// The filters past the last whole vector, one pixel: the same chain, summed in place.
template <typename T>
PYDL_ALWAYS_INLINE void direct_tail(T* __restrict y, T* __restrict pre, bool relu, const T* __restrict img,
                                    const T* __restrict k, const T* __restrict b, const Conv2dArgs& a,
                                    int64_t oy, int64_t ox, int64_t j0) {
  T* out = pre ? pre : y;
  for (int64_t j = j0; j < a.f; ++j) out[j] = b ? b[j] : T(0);
  for (int64_t i = 0; i < a.kh; ++i) {
    const int64_t iy = oy * a.sh - a.pad_top + i * a.dh;
    if (iy < 0 || iy >= a.h) continue;
    for (int64_t jj = 0; jj < a.kw; ++jj) {
      const int64_t ix = ox * a.sw - a.pad_left + jj * a.dw;
      if (ix < 0 || ix >= a.w) continue;
      const T* px = img + (iy * a.w + ix) * a.c;
      const T* krow = k + (i * a.kw + jj) * a.c * a.f;
      for (int64_t ch = 0; ch < a.c; ++ch)
        for (int64_t j = j0; j < a.f; ++j) out[j] += px[ch] * krow[ch * a.f + j];
    }
  }
  if (relu || pre)
    for (int64_t j = j0; j < a.f; ++j) y[j] = relu ? act::relu(out[j]) : out[j];
}

// Whether output pixels ox0 .. ox0 + count - 1 of row oy see only taps on the image.
inline bool window_inside(const Conv2dArgs& a, int64_t oy, int64_t ox0, int64_t count) {
  const int64_t iy = oy * a.sh - a.pad_top, ix = ox0 * a.sw - a.pad_left;
  return iy >= 0 && iy + (a.kh - 1) * a.dh < a.h && ix >= 0 && ix + (count - 1) * a.sw + (a.kw - 1) * a.dw < a.w;
}

// Output pixels [r0, r1) of the batch (r: image-major pixel index) into y, through ReLU when
// relu, the sums before it also to pre when given (conv_rows applies other activations).
template <typename T, int C>
PYDL_ALWAYS_INLINE void direct_rows_c(T* y, T* pre, bool relu, const T* x, const T* k, const T* b,
                                      const Conv2dArgs& a, int64_t r0, int64_t r1) {
  constexpr int P = kDirectPixels, FB = DirectVec<T>::kLanes;
  const int64_t pix = a.out_pixels(), f = a.f, whole = f - f % FB;
  int64_t n = r0 / pix, oy = r0 % pix / a.ow, ox = r0 % a.ow;
  for (int64_t r = r0; r < r1;) {
    const T* img = x + n * a.h * a.w * a.c;
    T* yr = y + r * f;
    T* zr = pre ? pre + r * f : nullptr;
    const bool block = ox + P <= a.ow && r + P <= r1 && window_inside(a, oy, ox, P);
    const int64_t count = block ? P : 1;
    for (int64_t j0 = 0; j0 < whole; j0 += FB) {
      if (block) direct_block<T, P, C>(yr, zr, relu, img, k, b, a, oy, ox, j0);
      else direct_block<T, 1, C>(yr, zr, relu, img, k, b, a, oy, ox, j0);
    }
    for (int64_t q = 0; q < count && whole < f; ++q)
      direct_tail(yr + q * f, zr ? zr + q * f : nullptr, relu, img, k, b, a, oy, ox + q, whole);
    r += count;
    ox += count;
    if (ox == a.ow) {
      ox = 0;
      if (++oy == a.oh) oy = 0, ++n;
    }
  }
}
template <typename T>
PYDL_ALWAYS_INLINE void direct_rows_impl(T* y, T* pre, bool relu, const T* x, const T* k, const T* b,
                                         const Conv2dArgs& a, int64_t r0, int64_t r1) {
  switch (a.c) {  // use_direct: at most 4 channels
    case 1: return direct_rows_c<T, 1>(y, pre, relu, x, k, b, a, r0, r1);
    case 2: return direct_rows_c<T, 2>(y, pre, relu, x, k, b, a, r0, r1);
    case 3: return direct_rows_c<T, 3>(y, pre, relu, x, k, b, a, r0, r1);
    default: return direct_rows_c<T, 0>(y, pre, relu, x, k, b, a, r0, r1);
  }
}
PYDL_SIMD_CLONES void direct_rows(float* y, float* pre, bool relu, const float* x, const float* k, const float* b,
                                  const Conv2dArgs& a, int64_t r0, int64_t r1) {
  direct_rows_impl(y, pre, relu, x, k, b, a, r0, r1);
}
PYDL_SIMD_CLONES void direct_rows(double* y, double* pre, bool relu, const double* x, const double* k,
                                  const double* b, const Conv2dArgs& a, int64_t r0, int64_t r1) {
  direct_rows_impl(y, pre, relu, x, k, b, a, r0, r1);
}

// The kernel gradient of a few-channel layer (use_direct): dk[q][:] += sum over output
// pixels, in order, of x(pixel, tap-channel q) * dz[pixel][:], for one vector of filters
// [j0, j0 + lanes) and the kDirectGradTaps tap-channels [q0, q0 + count), each summed in a
// register of its own. No columns: their forming was most of the cost at so few channels.
constexpr int kDirectGradTaps = 9;  // a 3x3 window of one channel; 3 passes for 3 channels
template <typename T>
PYDL_ALWAYS_INLINE void direct_kernel_grad_impl(T* __restrict dk, const T* __restrict x, const T* __restrict dz,
                                                const Conv2dArgs& a, int64_t j0, int64_t q0, int count) {
  using D = DirectVec<T>;
  constexpr int G = kDirectGradTaps;
  int64_t off[G], ti[G], tj[G];  // each tap-channel: its offset from the window's first pixel
  for (int g = 0; g < G; ++g) {
    const int64_t q = q0 + std::min(g, count - 1), t = q / a.c;  // past count: a copy, never stored
    ti[g] = t / a.kw * a.dh;
    tj[g] = t % a.kw * a.dw;
    off[g] = (ti[g] * a.w + tj[g]) * a.c + q % a.c;
  }
  typename D::V acc[G] = {}, d;
  const int64_t image = a.h * a.w * a.c;
  for (int64_t n = 0; n < a.n; ++n)
    for (int64_t oy = 0; oy < a.oh; ++oy)
      for (int64_t ox = 0; ox < a.ow; ++ox) {
        const int64_t iy = oy * a.sh - a.pad_top, ix = ox * a.sw - a.pad_left;
        const int64_t win = n * image + (iy * a.w + ix) * a.c;  // the window's first pixel (maybe off the image)
        D::load(d, dz + ((n * a.oh + oy) * a.ow + ox) * a.f + j0);
        if (window_inside(a, oy, ox, 1)) {
#pragma GCC unroll 9
          for (int g = 0; g < G; ++g) acc[g] += x[win + off[g]] * d;
        } else {
#pragma GCC unroll 9
          for (int g = 0; g < G; ++g) {
            const int64_t y = iy + ti[g], xx = ix + tj[g];
            if (y >= 0 && y < a.h && xx >= 0 && xx < a.w) acc[g] += x[win + off[g]] * d;
          }
        }
      }
  for (int g = 0; g < count; ++g) {
    typename D::V k;
    D::load(k, dk + (q0 + g) * a.f + j0);
    k += acc[g];
    D::store(dk + (q0 + g) * a.f + j0, k);
  }
}
PYDL_SIMD_CLONES void direct_kernel_grad(float* dk, const float* x, const float* dz, const Conv2dArgs& a,
                                         int64_t j0, int64_t q0, int count) {
  direct_kernel_grad_impl(dk, x, dz, a, j0, q0, count);
}
PYDL_SIMD_CLONES void direct_kernel_grad(double* dk, const double* x, const double* dz, const Conv2dArgs& a,
                                         int64_t j0, int64_t q0, int count) {
  direct_kernel_grad_impl(dk, x, dz, a, j0, q0, count);
}
// Whole vectors of filters only (the few-channel forward takes a tail; its gradient not).
template <typename T>
bool use_direct_kernel_grad(const Conv2dArgs& a) {
  return use_direct(a) && a.f % DirectVec<T>::kLanes == 0;
}

// ---- Convolution through window tiles (gemm_tile.h): each output pixel reads its taps in
// place, through pointers to the source pixels (XNNPACK's indirection buffer), so there is
// no im2col matrix and no packing of it. The kernel is read in place as the B operand.
//
// Output pixel (py, px) of an out_h x out_w plane reads, for tap (i, j), source pixel
// (py * sy + oy + i * ty, px * sx + ox + j * tx) of a src_h x src_w x chans image, zeros off it.
// The forward pass is one sweep of x; the input gradient at stride 1 another, of dy.
struct WindowSweep {
  int64_t out_h, out_w, src_h, src_w, chans, kh, kw;
  int64_t sy, sx, oy, ox, ty, tx;
};

// Rows [r0, r1) (image-major output pixels) of y (cols per row; cols a multiple of the
// kernel's lanes): y = act(sum over taps and channels of source * kmat + bias), where kmat's
// row (i * kw + j) * chans + ch holds the cols weights of tap (i, j), channel ch.
template <typename T>
void window_rows(T* y, T* pre, bool relu, const T* src, const T* kmat, const T* bias, int64_t cols,
                 const WindowSweep& g, const T* zeros, int64_t r0, int64_t r1) {
  using gemm_detail::kMaxMr;
  const gemm_detail::MicroKernel<T>& uk = gemm_detail::current_kernel<T>();
  const int64_t taps = g.kh * g.kw, plane = g.out_h * g.out_w, image = g.src_h * g.src_w * g.chans;
  static thread_local std::vector<const T*> at;  // at[tap * kMaxMr + row]: grown once per thread
  at.resize(size_t(taps * kMaxMr));
  int64_t n = r0 / plane, py = r0 % plane / g.out_w, px = r0 % g.out_w;  // of row r + q, stepped
  for (int64_t r = r0; r < r1; r += uk.mr) {
    const int rows = int(std::min<int64_t>(uk.mr, r1 - r));
    for (int q = 0; q < rows; ++q) {
      const T* img = src + n * image;
      for (int64_t i = 0; i < g.kh; ++i) {
        const int64_t iy = py * g.sy + g.oy + i * g.ty;
        for (int64_t j = 0; j < g.kw; ++j) {
          const int64_t ix = px * g.sx + g.ox + j * g.tx;
          const bool inside = iy >= 0 && iy < g.src_h && ix >= 0 && ix < g.src_w;
          at[size_t((i * g.kw + j) * kMaxMr + q)] = inside ? img + (iy * g.src_w + ix) * g.chans : zeros;
        }
      }
      if (++px == g.out_w) {
        px = 0;
        if (++py == g.out_h) py = 0, ++n;
      }
    }
    for (int64_t j0 = 0; j0 < cols;) {
      const bool wide = cols - j0 >= uk.nr;
      const gemm_detail::WindowTile<T> t{taps, g.chans, at.data(), kmat + j0, cols, y + r * cols + j0, cols,
                                         bias ? bias + j0 : nullptr, pre ? pre + r * cols + j0 : nullptr, relu};
      (wide ? uk.window : uk.window_narrow)[rows - 1](t);
      j0 += wide ? uk.nr : uk.lanes;
    }
  }
}

// Output rows per parallel chunk: whole register tiles, about 2 MFLOP each.
template <typename T>
int64_t window_grain(int64_t flops_per_row) {
  const int64_t mr = gemm_detail::current_kernel<T>().mr;
  const int64_t rows = std::max<int64_t>(1, int64_t(kForkFlops / 2) / std::max<int64_t>(flops_per_row, 1));
  return (rows + mr - 1) / mr * mr;
}

// Whether the window tiles take this layer's forward pass: more channels than the direct
// path takes, whole vectors of filters, and a workspace with room for a run of zeros.
template <typename T>
bool use_window(const Conv2dArgs& a) {
  return !a.pointwise() && !use_direct(a) && a.f % gemm_detail::current_kernel<T>().lanes == 0 &&
         a.workspace_size() >= a.c;
}
// The input gradient as a sweep of dy (stride 1): whole vectors of input channels, and room
// for the per-tap transposed kernel and a run of zeros.
template <typename T>
bool use_window_backward(const Conv2dArgs& a) {
  return !a.pointwise() && a.sh == 1 && a.sw == 1 && a.c % gemm_detail::current_kernel<T>().lanes == 0 &&
         a.workspace_size() >= a.patch() * a.f + a.f;
}

// The kernel gradient without the columns: dk^T = dz^T cols by gemm_implicit_b, which packs
// B = cols (step p: output pixel p of the batch; column q: tap q / c, channel q % c) straight
// from the images, each panel's channels of one tap copied from a pixel (zeros off the image).
template <typename T>
struct ColumnsOfImages {
  const T* x;
  const Conv2dArgs* a;
};

template <typename T>
void pack_columns(const void* ctx, T* dst, int64_t p0, int64_t kc, int64_t j0, int cols, int nr) {
  const ColumnsOfImages<T>& g = *static_cast<const ColumnsOfImages<T>*>(ctx);
  const Conv2dArgs& a = *g.a;
  const int64_t pix = a.out_pixels(), image = a.h * a.w * a.c;
  // use_implicit_kernel_grad: panels start at multiples of nr, a divisor of c, so each lies in one tap.
  const int64_t tap = j0 / a.c, ch0 = j0 % a.c, ti = tap / a.kw, tj = tap % a.kw;
  int64_t n = p0 / pix, oy = p0 % pix / a.ow, ox = p0 % a.ow;  // of step p0 + k, stepped
  for (int64_t k = 0; k < kc; ++k, dst += nr) {
    const T* img = g.x + n * image;
    const int64_t iy = oy * a.sh - a.pad_top + ti * a.dh, ix = ox * a.sw - a.pad_left + tj * a.dw;
    if (iy >= 0 && iy < a.h && ix >= 0 && ix < a.w) std::copy_n(img + (iy * a.w + ix) * a.c + ch0, cols, dst);
    else std::fill(dst, dst + cols, T(0));
    std::fill(dst + cols, dst + nr, T(0));
    if (++ox == a.ow) {
      ox = 0;
      if (++oy == a.oh) oy = 0, ++n;
    }
  }
}

// Whether the kernel gradient packs from the images: each panel of B one tap's run of
// channels, and room in the workspace for dk^T.
template <typename T>
bool use_implicit_kernel_grad(const Conv2dArgs& a) {
  return !a.pointwise() && a.c % gemm_detail::current_kernel<T>().nr == 0 && a.workspace_size() >= a.patch() * a.f;
}

// Runs rows(out, pre, relu, r0, r1) over `total` output rows of f values in parallel chunks
// and applies the activation: ReLU (or none) as the sums are stored, any other elementwise one
// per chunk while it is in cache (the sums kept in z when given), softmax after, over whole rows.
template <typename T, typename Rows>
void conv_rows(T* y, T* z, Activation act, int64_t total, int64_t f, int64_t grain, Rows&& rows) {
  const bool at_store = act == Activation::Linear || act == Activation::ReLU;
  T* sums = at_store ? y : (z ? z : y);
  parallel_range(total, grain, [&](int64_t r0, int64_t r1) {
    rows(sums, at_store ? z : nullptr, act == Activation::ReLU, r0, r1);
    if (at_store || act == Activation::Softmax) return;
    if (z) std::copy(z + r0 * f, z + r1 * f, y + r0 * f);
    activation_inplace_span(y + r0 * f, (r1 - r0) * f, act);
  });
  if (act == Activation::Softmax) activation_forward<T>(Matrix<T>(y, total, f), Matrix<const T>(sums, total, f), act);
}

// Output length of a window sweep; sizes come from user configs, so every step is checked.
int64_t out_size(int64_t in, int64_t k, int64_t s, int64_t d, int64_t pad_total, const std::string& owner) {
  const int64_t span = checked_add(checked_mul(k - 1, d, owner + " dilated kernel"), 1, owner + " dilated kernel");
  const int64_t padded = checked_add(in, pad_total, owner + " padded input");
  return padded < span ? 0 : (padded - span) / s + 1;
}

}  // namespace

int64_t Conv2dArgs::group_images() const { return pointwise() || use_direct(*this) ? n : column_group(); }

Conv2dArgs conv2d_args(int64_t h, int64_t w, int64_t c, int64_t f, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t dh, int64_t dw, const std::string& padding,
                       int64_t ph, int64_t pw, const std::string& owner) {
  if (kh < 1 || kw < 1 || sh < 1 || sw < 1 || dh < 1 || dw < 1)
    throw ValueError(owner + ": kernel_size, strides and dilation_rate must be positive");
  Conv2dArgs a;
  a.h = h; a.w = w; a.c = c; a.f = f; a.kh = kh; a.kw = kw;
  a.sh = sh; a.sw = sw; a.dh = dh; a.dw = dw;
  if (padding == "valid") {
    a.oh = out_size(h, kh, sh, dh, 0, owner);
    a.ow = out_size(w, kw, sw, dw, 0, owner);
  } else if (padding == "same") {
    a.oh = (h - 1) / sh + 1;  // ceil(h / sh) without overflowing h + sh
    a.ow = (w - 1) / sw + 1;
    // The padded extent (o - 1) * s + span must be representable, or the padding is absurd.
    const int64_t span_h = checked_add(checked_mul(kh - 1, dh, owner + " dilated kernel"), 1, owner);
    const int64_t span_w = checked_add(checked_mul(kw - 1, dw, owner + " dilated kernel"), 1, owner);
    const int64_t pad_h = std::max<int64_t>(0, checked_add(checked_mul(a.oh - 1, sh, owner), span_h, owner) - h);
    const int64_t pad_w = std::max<int64_t>(0, checked_add(checked_mul(a.ow - 1, sw, owner), span_w, owner) - w);
    a.pad_top = pad_h / 2;   // the odd pixel goes to the bottom / right, as in TensorFlow
    a.pad_left = pad_w / 2;
  } else if (padding == "explicit") {
    if (ph < 0 || pw < 0) throw ValueError(owner + ": padding must be >= 0");
    a.pad_top = ph;
    a.pad_left = pw;
    a.oh = out_size(h, kh, sh, dh, checked_mul(2, ph, owner + " padding"), owner);
    a.ow = out_size(w, kw, sw, dw, checked_mul(2, pw, owner + " padding"), owner);
  } else {
    throw ValueError(owner + ": padding must be 'valid', 'same', an int or (ph, pw); got '" + padding + "'");
  }
  if (a.oh < 1 || a.ow < 1)
    throw ValueError(owner + ": a " + std::to_string((kh - 1) * dh + 1) + "x" + std::to_string((kw - 1) * dw + 1) +
                     " (dilated) window does not fit the " + std::to_string(h) + "x" + std::to_string(w) +
                     " input with padding '" + padding + "'");
  // Products the kernels form: the patch, the output plane and one image's im2col columns.
  checked_mul(checked_mul(checked_mul(kh, kw, owner), c, owner + " kernel patch"), f, owner + " kernel");
  checked_mul(checked_mul(a.oh, a.ow, owner + " output"), std::max<int64_t>(c, f), owner + " output");
  checked_mul(checked_mul(a.oh, a.ow, owner), a.patch(), owner + " im2col columns of one image");
  return a;
}

template <typename T>
void conv2d_forward(T* y, T* z, const T* x, const T* k, const T* b, Activation act,
                    const Conv2dArgs& a, T* ws) {
  PYDL_DEVICE_DISPATCH(conv2d_forward, y, z, x, k, b, act, a, ws);
  const int64_t pix = a.out_pixels(), patch = a.patch(), group = a.group_images();
  if (use_direct(a)) {
    conv_rows(y, z, act, a.n * pix, a.f, std::max<int64_t>(1, 16384 / (a.f * patch)),
              [&](T* out, T* pre, bool relu, int64_t r0, int64_t r1) { direct_rows(out, pre, relu, x, k, b, a, r0, r1); });
    return;
  }
  if (use_window<T>(a)) {
    std::fill(ws, ws + a.c, T(0));  // the taps off the image
    const WindowSweep g{a.oh, a.ow, a.h, a.w, a.c, a.kh, a.kw, a.sh, a.sw, -a.pad_top, -a.pad_left, a.dh, a.dw};
    conv_rows(y, z, act, a.n * pix, a.f, window_grain<T>(2 * patch * a.f),
              [&](T* out, T* pre, bool relu, int64_t r0, int64_t r1) {
                window_rows(out, pre, relu, x, k, b, a.f, g, ws, r0, r1);
              });
    return;
  }
  // Images [i0, i1) in groups of `group`, their columns formed in `cols_ws`.
  auto images_through_columns = [&](int64_t i0, int64_t i1, int64_t group, T* cols_ws) {
    Matrix<const T> kernel(k, patch, a.f);
    for (int64_t n0 = i0; n0 < i1; n0 += group) {
      const int64_t images = std::min(group, i1 - n0), rows = images * pix;
      const T* cols = x + n0 * a.h * a.w * a.c;
      if (!a.pointwise()) {
        im2col(cols_ws, x, a, n0, rows);
        cols = cols_ws;
      }
      Matrix<T> out(y + n0 * pix * a.f, rows, a.f);
      if (z) {
        Matrix<T> pre(z + n0 * pix * a.f, rows, a.f);
        gemm<T>(pre, Matrix<const T>(cols, rows, patch), false, kernel, false, T(1), T(0), b);
        activation_forward<T>(out, pre, act);
      } else {
        gemm<T>(out, Matrix<const T>(cols, rows, patch), false, kernel, false, T(1), T(0), b, act);
      }
    }
  };
  // Each thread takes whole images, forms their columns in its own slice of the workspace,
  // small enough to stay in its core's L2, and multiplies them itself: one fork per layer,
  // and the columns never travel to L3 and back (they did at 4 MB per group, shared by all
  // threads). Every output row is the same sum in any slice (gemm.h), so results do not
  // depend on the thread count.
  const int64_t threads = omp_in_parallel() ? 1 : omp_get_max_threads(), per_image = pix * patch;
  const int64_t slot = a.workspace_size() / std::max<int64_t>(threads, 1);
  const double flops = 2.0 * double(a.n * pix) * double(patch) * double(a.f);
  if (a.pointwise() || threads < 2 || slot < per_image || a.n < 2 || flops < 2 * kForkFlops) {
    images_through_columns(0, a.n, group, ws);
    return;
  }
  const int64_t per_thread = std::clamp<int64_t>(kThreadColumns / per_image, 1, slot / per_image);
  parallel_range(a.n, per_thread, [&](int64_t i0, int64_t i1) {
    images_through_columns(i0, i1, per_thread, ws + omp_get_thread_num() * slot);
  });
}

int64_t conv2d_reduce_workspace(const Conv2dArgs& a) {
  return column_sums_workspace(a.n * a.out_pixels(), a.f) + a.f;
}

template <typename T>
void conv2d_backward(T* dx, T* dk, T* db, T* dy, const T* x, const T* y, const T* z, const T* k,
                     Activation act, const Conv2dArgs& a, T* ws, double* reduce_ws) {
  PYDL_DEVICE_DISPATCH(conv2d_backward, dx, dk, db, dy, x, y, z, k, act, a, ws, reduce_ws);
  const int64_t pix = a.out_pixels(), patch = a.patch();
  const int64_t group = a.pointwise() ? a.n : a.column_group();
  const int64_t total = a.n * pix;
  activation_backward<T>(Matrix<T>(dy, total, a.f), Matrix<const T>(dy, total, a.f),
                         Matrix<const T>(z, total, a.f), Matrix<const T>(y, total, a.f), act);
  if (db) bias_backward<T>(db, Matrix<const T>(dy, total, a.f), reduce_ws);
  Matrix<const T> kernel(k, patch, a.f);
  Matrix<T> dkernel(dk, patch, a.f);
  // At stride 1 the input gradient is a convolution of dy with each tap's transposed kernel.
  const bool window_dx = dx && use_window_backward<T>(a);
  if (window_dx) {
    T* zeros = ws;
    T* kt = ws + a.f;  // kt[(tap * f + j) * c + ch] = k[(tap * c + ch) * f + j]
    std::fill(zeros, zeros + a.f, T(0));
    for (int64_t tap = 0; tap < a.kh * a.kw; ++tap)
      for (int64_t ch = 0; ch < a.c; ++ch)
        for (int64_t j = 0; j < a.f; ++j) kt[(tap * a.f + j) * a.c + ch] = k[(tap * a.c + ch) * a.f + j];
    const WindowSweep g{a.h, a.w, a.oh, a.ow, a.f, a.kh, a.kw, 1, 1, a.pad_top, a.pad_left, -a.dh, -a.dw};
    parallel_range(a.n * a.h * a.w, window_grain<T>(2 * patch * a.f), [&](int64_t r0, int64_t r1) {
      window_rows<T>(dx, nullptr, false, dy, kt, nullptr, a.c, g, zeros, r0, r1);
    });
  }
  if (use_direct_kernel_grad<T>(a)) {
    const int64_t vectors = a.f / DirectVec<T>::kLanes, groups = (patch + kDirectGradTaps - 1) / kDirectGradTaps;
    parallel_range(vectors * groups, 1, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t q0 = u % groups * kDirectGradTaps;
        direct_kernel_grad(dk, x, dy, a, u / groups * DirectVec<T>::kLanes, q0,
                           int(std::min<int64_t>(kDirectGradTaps, patch - q0)));
      }
    });
    if (!dx) return;
  }
  const bool implicit_dk = use_direct_kernel_grad<T>(a) || use_implicit_kernel_grad<T>(a);
  if (implicit_dk && !use_direct_kernel_grad<T>(a)) {  // after the input gradient: the workspace holds dk^T now
    const ColumnsOfImages<T> ctx{x, &a};
    gemm_detail::gemm_implicit_b<T>(Matrix<T>(ws, a.f, patch), Matrix<const T>(dy, total, a.f), true,
                                    &pack_columns<T>, &ctx, T(1), T(0));
    for (int64_t q = 0; q < patch; ++q)
      for (int64_t j = 0; j < a.f; ++j) dk[q * a.f + j] += ws[j * patch + q];
    if (!dx || window_dx) return;
  }
  for (int64_t n0 = 0; n0 < a.n; n0 += group) {
    const int64_t images = std::min(group, a.n - n0), rows = images * pix;
    Matrix<const T> dz(dy + n0 * pix * a.f, rows, a.f);
    if (!implicit_dk) {
      const T* cols = x + n0 * a.h * a.w * a.c;
      if (!a.pointwise()) {
        im2col(ws, x, a, n0, rows);
        cols = ws;
      }
      gemm<T>(dkernel, Matrix<const T>(cols, rows, patch), true, dz, false, T(1), T(1));  // dk += cols^T dz
    }
    if (!dx || window_dx) continue;
    if (a.pointwise()) {
      gemm<T>(Matrix<T>(dx + n0 * a.h * a.w * a.c, rows, patch), dz, false, kernel, true);
    } else {
      gemm<T>(Matrix<T>(ws, rows, patch), dz, false, kernel, true);  // the columns' gradient
      col2im(dx, ws, a, n0, images);
    }
  }
}

#define PYDL_INSTANTIATE(T)                                                                    \
  template void conv2d_forward<T>(T*, T*, const T*, const T*, const T*, Activation,            \
                                  const Conv2dArgs&, T*);                                      \
  template void conv2d_backward<T>(T*, T*, T*, T*, const T*, const T*, const T*, const T*,     \
                                   Activation, const Conv2dArgs&, T*, double*);
PYDL_INSTANTIATE(float)
PYDL_INSTANTIATE(double)
#undef PYDL_INSTANTIATE

}  // namespace pydl
