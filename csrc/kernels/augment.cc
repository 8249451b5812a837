#include "kernels/augment.h"

#include <algorithm>
#include <cmath>

#include "core/errors.h"
#include "core/sizes.h"
#include "core/parallel.h"
#include "core/rng.h"

namespace pydl {
namespace {

using Shape = std::vector<int64_t>;

// Bilinear sample of channel run at continuous position (px, py) in pixel-edge coordinates.
inline void bilinear(float* dst, const float* img, int64_t h, int64_t w, int64_t c, double px, double py,
                     float fill) {
  if (px < 0.0 || px >= double(w) || py < 0.0 || py >= double(h)) {
    for (int64_t ch = 0; ch < c; ++ch) dst[ch] = fill;
    return;
  }
  const double xs = px - 0.5, ys = py - 0.5;
  const int64_t x0 = int64_t(std::floor(xs)), y0 = int64_t(std::floor(ys));
  const double dx = xs - double(x0), dy = ys - double(y0);
  auto clampx = [w](int64_t v) { return v < 0 ? 0 : (v >= w ? w - 1 : v); };
  auto clampy = [h](int64_t v) { return v < 0 ? 0 : (v >= h ? h - 1 : v); };
  const float* r0 = img + clampy(y0) * w * c;
  const float* r1 = img + clampy(y0 + 1) * w * c;
  const int64_t a = clampx(x0) * c, b = clampx(x0 + 1) * c;
  for (int64_t ch = 0; ch < c; ++ch) {
    const double top = r0[a + ch] + (r0[b + ch] - double(r0[a + ch])) * dx;
    const double bot = r1[a + ch] + (r1[b + ch] - double(r1[a + ch])) * dx;
    dst[ch] = float(top + (bot - top) * dy);
  }
}

// out pixel (x, y) reads input at M * (x + 0.5, y + 0.5) + t (Pillow's affine convention).
void affine(float* out, const float* in, int64_t h, int64_t w, int64_t c, const double m[6], float fill) {
  for (int64_t y = 0; y < h; ++y)
    for (int64_t x = 0; x < w; ++x) {
      const double ox = double(x) + 0.5, oy = double(y) + 0.5;
      bilinear(out + (y * w + x) * c, in, h, w, c, m[0] * ox + m[1] * oy + m[2], m[3] * ox + m[4] * oy + m[5], fill);
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

void augment_apply(float* out, const float* in, int64_t n, const Shape& s, const AugmentOp& op, uint64_t seed,
                   uint64_t stream, const uint64_t* keys) {
  const int64_t h = s[0], w = s[1], c = s[2];
  const Shape os = augment_output_shape(op, s);
  const int64_t in_size = h * w * c, out_size = os[0] * os[1] * c;
  const CounterRng rng(seed, stream);
  const float fill = float(op.fill);
  parallel_range(n, 1, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float* src = in + i * in_size;
      float* dst = out + i * out_size;
      const uint64_t key = keys ? keys[i] : uint64_t(i);
      auto draw = [&](uint64_t k) { return rng.uniform_double(key * 8 + k); };  // up to 8 draws per op
      switch (op.kind) {
        case AugmentOp::Flip: {
          const bool fx = op.horizontal && draw(0) < 0.5, fy = op.vertical && draw(1) < 0.5;
          for (int64_t y = 0; y < h; ++y)
            for (int64_t x = 0; x < w; ++x) {
              const float* p = src + ((fy ? h - 1 - y : y) * w + (fx ? w - 1 - x : x)) * c;
              std::copy(p, p + c, dst + (y * w + x) * c);
            }
          break;
        }
        case AugmentOp::Rotate: {
          const double deg = op.range_set ? op.range_low + draw(0) * (op.range_high - op.range_low)
                                          : (2.0 * draw(0) - 1.0) * op.degrees;
          const double th = deg * M_PI / 180.0;
          const double cx = double(w) / 2.0, cy = double(h) / 2.0, co = std::cos(th), si = std::sin(th);
          const double m[6] = {co, -si, cx - co * cx + si * cy, si, co, cy - si * cx - co * cy};
          affine(dst, src, h, w, c, m, fill);
          break;
        }
        case AugmentOp::Zoom: {
          const double z = op.range_set ? op.range_low + draw(0) * (op.range_high - op.range_low)
                                        : 1.0 + (2.0 * draw(0) - 1.0) * op.factor;  // > 1 zooms in
          const double cx = double(w) / 2.0, cy = double(h) / 2.0;
          const double m[6] = {1.0 / z, 0.0, cx - cx / z, 0.0, 1.0 / z, cy - cy / z};
          affine(dst, src, h, w, c, m, fill);
          break;
        }
        case AugmentOp::Crop: {
          const int64_t p = op.padding;
          const int64_t oy = int64_t(draw(0) * double(h + 2 * p - op.height + 1));
          const int64_t ox = int64_t(draw(1) * double(w + 2 * p - op.width + 1));
          for (int64_t y = 0; y < op.height; ++y)
            for (int64_t x = 0; x < op.width; ++x) {
              const int64_t sy = y + oy - p, sx = x + ox - p;
              float* d = dst + (y * op.width + x) * c;
              if (sy < 0 || sy >= h || sx < 0 || sx >= w) std::fill(d, d + c, fill);
              else std::copy(src + (sy * w + sx) * c, src + (sy * w + sx + 1) * c, d);
            }
          break;
        }
        case AugmentOp::CenterCrop: {
          const int64_t oy = (h - op.height) / 2, ox = (w - op.width) / 2;
          for (int64_t y = 0; y < op.height; ++y)
            std::copy(src + ((y + oy) * w + ox) * c, src + ((y + oy) * w + ox + op.width) * c,
                      dst + y * op.width * c);
          break;
        }
        case AugmentOp::Brightness: {
          const float delta = float((2.0 * draw(0) - 1.0) * op.factor * (op.high - op.low));
          for (int64_t j = 0; j < in_size; ++j)
            dst[j] = std::min(float(op.high), std::max(float(op.low), src[j] + delta));
          break;
        }
        case AugmentOp::Contrast: {
          const double k = 1.0 + (2.0 * draw(0) - 1.0) * op.factor;
          for (int64_t ch = 0; ch < c; ++ch) {
            double mean = 0;
            for (int64_t p = 0; p < h * w; ++p) mean += src[p * c + ch];
            mean /= double(h * w);
            for (int64_t p = 0; p < h * w; ++p) {
              const double v = (src[p * c + ch] - mean) * k + mean;
              dst[p * c + ch] = float(std::min(op.high, std::max(op.low, v)));
            }
          }
          break;
        }
        case AugmentOp::Resize: {
          const double sy = double(h) / double(op.height), sx = double(w) / double(op.width);
          for (int64_t y = 0; y < op.height; ++y)
            for (int64_t x = 0; x < op.width; ++x) {
              float* d = dst + (y * op.width + x) * c;
              const double py = (double(y) + 0.5) * sy, px = (double(x) + 0.5) * sx;  // half-pixel centres
              if (op.nearest) {
                const int64_t iy = std::min(h - 1, int64_t(std::floor(py))), ix = std::min(w - 1, int64_t(std::floor(px)));
                std::copy(src + (iy * w + ix) * c, src + (iy * w + ix + 1) * c, d);
              } else {
                bilinear(d, src, h, w, c, px, py, 0.0f);
              }
            }
          break;
        }
      }
    }
  });
}

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
    augment_apply(dst, cur, n, shapes_[k], ops_[k], seed, 0xa06e000ULL + k, keys);
    cur = dst;
  }
}

}  // namespace pydl
