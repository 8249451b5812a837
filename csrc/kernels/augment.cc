// The CPU augmentation kernels: one sample per task, its draws from kernels/augment_sample.h
// (shared with cuda/augment.cu); the adjoints scatter serially within a sample (fixed order).
#include "kernels/augment.h"

#include <algorithm>
#include <cmath>

#include "core/device.h"
#include "core/errors.h"
#include "core/sizes.h"
#include "core/parallel.h"
#include "core/rng.h"
#include "kernels/augment_sample.h"

namespace pydl {
namespace {

using Shape = std::vector<int64_t>;

template <typename T>
inline void bilinear(T* dst, const T* img, int64_t h, int64_t w, int64_t c, double px, double py, T fill) {
  Taps t;
  if (!bilinear_taps(t, h, w, c, px, py)) {
    for (int64_t ch = 0; ch < c; ++ch) dst[ch] = fill;
    return;
  }
  for (int64_t ch = 0; ch < c; ++ch) dst[ch] = bilinear_value(img, t, ch);
}

// The adjoint of bilinear: adds g's share to the four taps (the fill receives nothing).
template <typename T>
inline void bilinear_adjoint(T* dimg, const T* g, int64_t h, int64_t w, int64_t c, double px, double py) {
  Taps t;
  if (!bilinear_taps(t, h, w, c, px, py)) return;
  for (int64_t ch = 0; ch < c; ++ch) bilinear_adjoint_add(dimg, t, ch, double(g[ch]));
}

template <typename T>
void forward_sample(T* dst, const T* src, const AugmentOp& op, const Draw& d, int64_t h, int64_t w, int64_t c) {
  const T fill = T(op.fill);
  switch (op.kind) {
    case AugmentOp::Flip:
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const T* p = src + ((d.fy ? h - 1 - y : y) * w + (d.fx ? w - 1 - x : x)) * c;
          std::copy(p, p + c, dst + (y * w + x) * c);
        }
      break;
    case AugmentOp::Rotate:
    case AugmentOp::Zoom:
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          double px, py;
          affine_source(d, y, x, px, py);
          bilinear(dst + (y * w + x) * c, src, h, w, c, px, py, fill);
        }
      break;
    case AugmentOp::Crop:
    case AugmentOp::CenterCrop:
      for (int64_t y = 0; y < op.height; ++y)
        for (int64_t x = 0; x < op.width; ++x) {
          const int64_t s = crop_source(d, y, x, h, w);
          T* o = dst + (y * op.width + x) * c;
          if (s < 0) std::fill(o, o + c, fill);
          else std::copy(src + s * c, src + (s + 1) * c, o);
        }
      break;
    case AugmentOp::Brightness: {
      const T delta = T(d.value), lo = T(op.low), hi = T(op.high);
      for (int64_t j = 0; j < h * w * c; ++j) dst[j] = std::min(hi, std::max(lo, T(src[j] + delta)));
      break;
    }
    case AugmentOp::Contrast:
      for (int64_t ch = 0; ch < c; ++ch) {
        double mean = 0;
        for (int64_t p = 0; p < h * w; ++p) mean += src[p * c + ch];
        mean /= double(h * w);
        for (int64_t p = 0; p < h * w; ++p) {
          const double v = (src[p * c + ch] - mean) * d.value + mean;
          dst[p * c + ch] = T(std::min(op.high, std::max(op.low, v)));
        }
      }
      break;
    case AugmentOp::Resize:
      for (int64_t y = 0; y < op.height; ++y)
        for (int64_t x = 0; x < op.width; ++x) {
          T* o = dst + (y * op.width + x) * c;
          double px, py;
          int64_t s;
          resize_source(op, h, w, y, x, px, py, s);
          if (op.nearest) std::copy(src + s * c, src + (s + 1) * c, o);
          else bilinear(o, src, h, w, c, px, py, T(0));
        }
      break;
  }
}

template <typename T>
void backward_sample(T* dx, const T* dy, const T* x, const AugmentOp& op, const Draw& d, int64_t h, int64_t w,
                     int64_t c) {
  const int64_t in_size = h * w * c;
  switch (op.kind) {
    case AugmentOp::Flip:  // a permutation: every input pixel receives exactly one output pixel
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
          const T* g = dy + (y * w + xx) * c;
          std::copy(g, g + c, dx + ((d.fy ? h - 1 - y : y) * w + (d.fx ? w - 1 - xx : xx)) * c);
        }
      break;
    case AugmentOp::Rotate:
    case AugmentOp::Zoom:
      std::fill(dx, dx + in_size, T(0));
      for (int64_t y = 0; y < h; ++y)
        for (int64_t xx = 0; xx < w; ++xx) {
          double px, py;
          affine_source(d, y, xx, px, py);
          bilinear_adjoint(dx, dy + (y * w + xx) * c, h, w, c, px, py);
        }
      break;
    case AugmentOp::Crop:
    case AugmentOp::CenterCrop:  // a translation: each input pixel feeds at most one output pixel
      std::fill(dx, dx + in_size, T(0));
      for (int64_t y = 0; y < op.height; ++y)
        for (int64_t xx = 0; xx < op.width; ++xx) {
          const int64_t s = crop_source(d, y, xx, h, w);
          const T* g = dy + (y * op.width + xx) * c;
          if (s >= 0) std::copy(g, g + c, dx + s * c);
        }
      break;
    case AugmentOp::Brightness: {  // clipped values (outside [low, high]) pass no gradient
      const T delta = T(d.value), lo = T(op.low), hi = T(op.high);
      for (int64_t j = 0; j < in_size; ++j) {
        const T v = T(x[j] + delta);
        dx[j] = v >= lo && v <= hi ? dy[j] : T(0);
      }
      break;
    }
    case AugmentOp::Contrast:
      // y_p = k x_p + (1 - k) mean(x) where not clipped: dx_q = k u_q dy_q + (1 - k) / HW sum_p u_p dy_p.
      for (int64_t ch = 0; ch < c; ++ch) {
        double mean = 0, shared = 0;
        for (int64_t p = 0; p < h * w; ++p) mean += x[p * c + ch];
        mean /= double(h * w);
        for (int64_t p = 0; p < h * w; ++p) {
          const double v = (x[p * c + ch] - mean) * d.value + mean;
          if (v >= op.low && v <= op.high) shared += dy[p * c + ch];
        }
        shared *= (1.0 - d.value) / double(h * w);
        for (int64_t p = 0; p < h * w; ++p) {
          const double v = (x[p * c + ch] - mean) * d.value + mean;
          const double own = v >= op.low && v <= op.high ? d.value * dy[p * c + ch] : 0.0;
          dx[p * c + ch] = T(own + shared);
        }
      }
      break;
    case AugmentOp::Resize:
      std::fill(dx, dx + in_size, T(0));
      for (int64_t y = 0; y < op.height; ++y)
        for (int64_t xx = 0; xx < op.width; ++xx) {
          const T* g = dy + (y * op.width + xx) * c;
          double px, py;
          int64_t s;
          resize_source(op, h, w, y, xx, px, py, s);
          if (op.nearest) for (int64_t ch = 0; ch < c; ++ch) dx[s * c + ch] += g[ch];
          else bilinear_adjoint(dx, g, h, w, c, px, py);
        }
      break;
  }
}

}  // namespace

Shape augment_output_shape(const AugmentOp& op, const Shape& in) {
  if (in.size() != 3) throw ValueError("augmentation expects images (height, width, channels)");
  if (in[0] < 1 || in[1] < 1 || in[2] < 1)  // an empty axis would make h - 1 a negative index
    throw ValueError("augmentation expects non-empty images, got " + std::to_string(in[0]) + "x" +
                     std::to_string(in[1]) + "x" + std::to_string(in[2]));
  checked_product(in, "augmentation input");
  switch (op.kind) {
    case AugmentOp::Crop:
    case AugmentOp::CenterCrop: {
      if (op.padding < 0) throw ValueError("crop: padding must be >= 0");
      const int64_t ph = op.kind == AugmentOp::Crop ? checked_mul(2, op.padding, "crop padding") : 0;
      if (op.height < 1 || op.width < 1 || op.height > checked_add(in[0], ph, "crop padding") ||
          op.width > checked_add(in[1], ph, "crop padding"))
        throw ValueError("crop of " + std::to_string(op.height) + "x" + std::to_string(op.width) +
                         " does not fit images of " + std::to_string(in[0]) + "x" + std::to_string(in[1]) +
                         (ph ? " plus padding" : ""));
      return {op.height, op.width, in[2]};
    }
    case AugmentOp::Resize:
      if (op.height < 1 || op.width < 1) throw ValueError("Resize: height and width must be positive");
      checked_product({op.height, op.width, in[2]}, "Resize to " + std::to_string(op.height) + "x" +
                                                         std::to_string(op.width));
      return {op.height, op.width, in[2]};
    default:
      return in;
  }
}

template <typename T>
void augment_forward(T* out, const T* in, int64_t n, const Shape& s, const AugmentOp& op, uint64_t seed,
                     uint64_t stream, const uint64_t* keys) {
  PYDL_DEVICE_DISPATCH(augment_forward, out, in, n, s, op, seed, stream, keys);
  const int64_t h = s[0], w = s[1], c = s[2];
  const Shape os = augment_output_shape(op, s);
  const int64_t in_size = h * w * c, out_size = os[0] * os[1] * c;
  const CounterRng rng(op.seed_set ? op.seed : seed, stream);
  parallel_range(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const Draw d = draw_sample(op, h, w, rng, keys ? keys[i] : uint64_t(i));
      forward_sample(out + i * out_size, in + i * in_size, op, d, h, w, c);
    }
  });
}

template <typename T>
void augment_backward(T* dx, const T* dy, const T* x, int64_t n, const Shape& s, const AugmentOp& op, uint64_t seed,
                      uint64_t stream, const uint64_t* keys) {
  PYDL_DEVICE_DISPATCH(augment_backward, dx, dy, x, n, s, op, seed, stream, keys);
  const int64_t h = s[0], w = s[1], c = s[2];
  const Shape os = augment_output_shape(op, s);
  const int64_t in_size = h * w * c, out_size = os[0] * os[1] * c;
  const CounterRng rng(op.seed_set ? op.seed : seed, stream);
  parallel_range(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const Draw d = draw_sample(op, h, w, rng, keys ? keys[i] : uint64_t(i));
      backward_sample(dx + i * in_size, dy + i * out_size, x + i * in_size, op, d, h, w, c);
    }
  });
}

template void augment_forward<float>(float*, const float*, int64_t, const Shape&, const AugmentOp&, uint64_t,
                                     uint64_t, const uint64_t*);
template void augment_forward<double>(double*, const double*, int64_t, const Shape&, const AugmentOp&, uint64_t,
                                      uint64_t, const uint64_t*);
template void augment_backward<float>(float*, const float*, const float*, int64_t, const Shape&, const AugmentOp&,
                                      uint64_t, uint64_t, const uint64_t*);
template void augment_backward<double>(double*, const double*, const double*, int64_t, const Shape&,
                                       const AugmentOp&, uint64_t, uint64_t, const uint64_t*);

void augment_keys(uint64_t* keys, int64_t n, StepClock clock, int64_t row_offset) {
  PYDL_DEVICE_DISPATCH_PLAIN(augment_keys, keys, n, clock, row_offset);
  const uint64_t step = clock.now();
  for (int64_t i = 0; i < n; ++i) keys[i] = augment_key(step, row_offset + i);
}

template <typename T>
void augment_identity(T* out, const T* in, int64_t count) {
  PYDL_DEVICE_DISPATCH(augment_identity, out, in, count);
  std::copy(in, in + count, out);
}
template void augment_identity<float>(float*, const float*, int64_t);
template void augment_identity<double>(double*, const double*, int64_t);

AugmentPipeline::AugmentPipeline(std::vector<AugmentOp> ops, Shape in_shape) : ops_(std::move(ops)) {
  Shape s = std::move(in_shape);
  for (const auto& op : ops_) {
    shapes_.push_back(s);
    s = augment_output_shape(op, s);
  }
  shapes_.push_back(s);
  out_shape_ = s;
}

int64_t AugmentPipeline::scratch_size(int64_t n) const {
  int64_t most = 0;
  for (const auto& s : shapes_) most = std::max(most, checked_product(s, "augmentation"));
  return checked_mul(2 * n, most, "augmentation scratch for " + std::to_string(n) + " images");
}

void AugmentPipeline::apply(float* out, const float* in, int64_t n, uint64_t seed, const uint64_t* keys,
                            float* scratch) const {
  if (ops_.empty()) throw ValueError("empty augmentation pipeline");
  const int64_t half = scratch_size(n) / 2;
  const float* cur = in;
  for (size_t k = 0; k < ops_.size(); ++k) {
    float* dst = k + 1 == ops_.size() ? out : scratch + (k % 2) * half;
    augment_forward(dst, cur, n, shapes_[k], ops_[k], seed, 0xa06e000ULL + k, keys);
    cur = dst;
  }
}

}  // namespace pydl
