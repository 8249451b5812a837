// What one augmented sample draws and where its output pixels read, shared by the CPU
// kernels (kernels/augment.cc) and the CUDA ones (cuda/augment.cu) through PYDL_HOST_DEVICE,
// so both backends make the very same draws from (seed, stream, key) and the same geometry.
// Products that feed a sum go through aug_mul / aug_lerp, which on the device round each
// operation separately (no fused multiply-add), as the CPU build (no -mfma) does: for the same draws the
// two backends compute the same values (transcendental functions aside: Rotate's cos / sin
// may differ in the last bit between the C library and CUDA's).
#pragma once
#include <math.h>

#include <cstdint>

#include "core/host_device.h"
#include "core/rng.h"
#include "kernels/augment.h"

namespace pydl {

PYDL_HOST_DEVICE inline double aug_mul(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}
// a + (b - a) * t, each operation rounded.
PYDL_HOST_DEVICE inline double aug_lerp(double a, double b, double t) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, __dmul_rn(b - a, t));
#else
  return a + (b - a) * t;
#endif
}

// The four taps of a bilinear sample at continuous position (px, py) in pixel-edge
// coordinates: pixel offsets (into an h x w x c image) and weights; neighbours clamp at the
// border. False when the position lies outside the image (the sample is the fill value).
struct Taps {
  int64_t a00, a01, a10, a11;
  double dx, dy;
};

PYDL_HOST_DEVICE inline bool bilinear_taps(Taps& t, int64_t h, int64_t w, int64_t c, double px, double py) {
  if (px < 0.0 || px >= double(w) || py < 0.0 || py >= double(h)) return false;
  const double xs = px - 0.5, ys = py - 0.5;
  const int64_t x0 = int64_t(floor(xs)), y0 = int64_t(floor(ys));
  t.dx = xs - double(x0);
  t.dy = ys - double(y0);
  const int64_t cy0 = y0 < 0 ? 0 : (y0 >= h ? h - 1 : y0), cy1 = y0 + 1 >= h ? h - 1 : (y0 + 1 < 0 ? 0 : y0 + 1);
  const int64_t cx0 = x0 < 0 ? 0 : (x0 >= w ? w - 1 : x0), cx1 = x0 + 1 >= w ? w - 1 : (x0 + 1 < 0 ? 0 : x0 + 1);
  const int64_t r0 = cy0 * w * c, r1 = cy1 * w * c, a = cx0 * c, b = cx1 * c;
  t.a00 = r0 + a;
  t.a01 = r0 + b;
  t.a10 = r1 + a;
  t.a11 = r1 + b;
  return true;
}

// Channel ch of the bilinear sample with taps t.
template <typename T>
PYDL_HOST_DEVICE inline T bilinear_value(const T* img, const Taps& t, int64_t ch) {
  const double top = aug_lerp(double(img[t.a00 + ch]), double(img[t.a01 + ch]), t.dx);
  const double bot = aug_lerp(double(img[t.a10 + ch]), double(img[t.a11 + ch]), t.dx);
  return T(aug_lerp(top, bot, t.dy));
}

// The adjoint: adds g's share to the four taps of channel ch.
template <typename T>
PYDL_HOST_DEVICE inline void bilinear_adjoint_add(T* dimg, const Taps& t, int64_t ch, double g) {
  const double w00 = aug_mul(1.0 - t.dx, 1.0 - t.dy), w01 = aug_mul(t.dx, 1.0 - t.dy);
  const double w10 = aug_mul(1.0 - t.dx, t.dy), w11 = aug_mul(t.dx, t.dy);
  dimg[t.a00 + ch] += T(aug_mul(w00, g));
  dimg[t.a01 + ch] += T(aug_mul(w01, g));
  dimg[t.a10 + ch] += T(aug_mul(w10, g));
  dimg[t.a11 + ch] += T(aug_mul(w11, g));
}

// What one sample drew: everything forward and backward need beyond the op itself.
struct Draw {
  bool fx, fy;    // Flip
  double m[6];    // Rotate, Zoom: out pixel (x, y) reads M * (x + .5, y + .5) + t
  int64_t oy, ox; // Crop, CenterCrop: offsets into the (padded) input
  double value;   // Brightness: delta; Contrast: scale
};

PYDL_HOST_DEVICE inline Draw draw_sample(const AugmentOp& op, int64_t h, int64_t w, const CounterRng& rng,
                                         uint64_t key) {
  // Up to 8 draws per op.
#define PYDL_AUG_U(k) rng.uniform_double(key * 8 + (k))
  Draw d{false, false, {1, 0, 0, 0, 1, 0}, 0, 0, 0.0};
  const double cx = double(w) / 2.0, cy = double(h) / 2.0;
  switch (op.kind) {
    case AugmentOp::Flip:
      d.fx = op.horizontal && PYDL_AUG_U(0) < 0.5;
      d.fy = op.vertical && PYDL_AUG_U(1) < 0.5;
      break;
    case AugmentOp::Rotate: {  // Pillow's convention: positive angles turn counter-clockwise
      const double deg = op.range_set ? op.range_low + aug_mul(PYDL_AUG_U(0), op.range_high - op.range_low)
                                      : aug_mul(2.0 * PYDL_AUG_U(0) - 1.0, op.degrees);
      const double th = deg * M_PI / 180.0, co = cos(th), si = sin(th);
      d.m[0] = co;
      d.m[1] = -si;
      d.m[2] = cx - aug_mul(co, cx) + aug_mul(si, cy);
      d.m[3] = si;
      d.m[4] = co;
      d.m[5] = cy - aug_mul(si, cx) - aug_mul(co, cy);
      break;
    }
    case AugmentOp::Zoom: {
      const double z = op.range_set ? op.range_low + aug_mul(PYDL_AUG_U(0), op.range_high - op.range_low)
                                    : 1.0 + aug_mul(2.0 * PYDL_AUG_U(0) - 1.0, op.factor);  // > 1 zooms in
      d.m[0] = 1.0 / z;
      d.m[2] = cx - cx / z;
      d.m[4] = 1.0 / z;
      d.m[5] = cy - cy / z;
      break;
    }
    case AugmentOp::Crop: {
      const int64_t p = op.padding, ry = h + 2 * p - op.height, rx = w + 2 * p - op.width;
      d.oy = (op.centered ? ry / 2 : int64_t(PYDL_AUG_U(0) * double(ry + 1))) - p;
      d.ox = (op.centered ? rx / 2 : int64_t(PYDL_AUG_U(1) * double(rx + 1))) - p;
      break;
    }
    case AugmentOp::CenterCrop:
      d.oy = (h - op.height) / 2;
      d.ox = (w - op.width) / 2;
      break;
    case AugmentOp::Brightness:
      d.value = (2.0 * PYDL_AUG_U(0) - 1.0) * op.factor * (op.high - op.low);
      break;
    case AugmentOp::Contrast:
      d.value = 1.0 + aug_mul(2.0 * PYDL_AUG_U(0) - 1.0, op.factor);
      break;
    case AugmentOp::Resize:
      break;
  }
#undef PYDL_AUG_U
  return d;
}

// Where output pixel (x, y) of Rotate / Zoom reads, in pixel-edge coordinates.
PYDL_HOST_DEVICE inline void affine_source(const Draw& d, int64_t y, int64_t x, double& px, double& py) {
  const double ox = double(x) + 0.5, oy = double(y) + 0.5;
  px = aug_mul(d.m[0], ox) + aug_mul(d.m[1], oy) + d.m[2];
  py = aug_mul(d.m[3], ox) + aug_mul(d.m[4], oy) + d.m[5];
}

// Output pixel (y, x) of a crop: the source pixel, or -1 outside the input (padding).
PYDL_HOST_DEVICE inline int64_t crop_source(const Draw& d, int64_t y, int64_t x, int64_t h, int64_t w) {
  const int64_t sy = y + d.oy, sx = x + d.ox;
  return sy < 0 || sy >= h || sx < 0 || sx >= w ? -1 : sy * w + sx;
}

// Resize: where output pixel (y, x) reads (half-pixel centres), and its nearest pixel.
PYDL_HOST_DEVICE inline void resize_source(const AugmentOp& op, int64_t h, int64_t w, int64_t y, int64_t x,
                                           double& px, double& py, int64_t& nearest) {
  py = (double(y) + 0.5) * (double(h) / double(op.height));
  px = (double(x) + 0.5) * (double(w) / double(op.width));
  const int64_t fy = int64_t(floor(py)), fx = int64_t(floor(px));
  nearest = (fy < h - 1 ? fy : h - 1) * w + (fx < w - 1 ? fx : w - 1);
}

}  // namespace pydl
