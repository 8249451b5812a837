// Image augmentation on the GPU, the CPU kernels' contract (kernels/augment.h): sample i's
// draws are a pure function of (seed, stream, keys[i]), made by the very same code as on the
// CPU (kernels/augment_sample.h: the counter-based RNG, the geometry, the bilinear taps), so a
// seed gives the same flips, crops, angles and zooms on both backends.
//
// A first kernel draws every sample once (into scratch()); the ops then run one thread per
// output element. Contrast needs each (sample, channel) mean: a block per pair, summed with
// block_sum (a fixed tree). The adjoints that are gathers (Flip, Crop, CenterCrop, Brightness,
// Contrast) run one thread per input element; those that scatter (the bilinear taps of Rotate,
// Zoom and Resize) run one thread per (sample, channel) visiting the output pixels in the CPU's
// order: slow, but without atomics, so bitwise reproducible (they only run when an
// augmentation layer sits after a trained layer, never at a model's input).
#include <vector>

#include "context.h"
#include "reduce.cuh"
#include "registry.h"
#include "kernels/augment.h"
#include "kernels/augment_sample.h"

namespace pydl::cuda {
namespace {

constexpr unsigned kThreads = 256;

#define PYDL_GRID_STRIDE(e, total) \
  for (int64_t e = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; e < (total); e += int64_t(gridDim.x) * blockDim.x)

// The geometry of one call: input (h, w, c), output (oh, ow, c).
struct Dims {
  int64_t n, h, w, c, oh, ow;
};

Dims dims_of(int64_t n, const std::vector<int64_t>& s, const AugmentOp& op) {
  const bool resized = op.kind == AugmentOp::Crop || op.kind == AugmentOp::CenterCrop || op.kind == AugmentOp::Resize;
  return {n, s[0], s[1], s[2], resized ? op.height : s[0], resized ? op.width : s[1]};
}

__global__ void draws_kernel(Draw* __restrict__ draws, AugmentOp op, Dims d, CounterRng rng,
                             const uint64_t* __restrict__ keys) {
  PYDL_GRID_STRIDE(i, d.n) draws[i] = draw_sample(op, d.h, d.w, rng, keys ? keys[i] : uint64_t(i));
}

// Brightness: the clip as std::min(hi, std::max(lo, v)) evaluates it.
__device__ inline float clip(float v, float lo, float hi) {
  const float m = lo < v ? v : lo;
  return hi < m ? hi : m;
}

__global__ void forward_kernel(float* __restrict__ out, const float* __restrict__ in, const Draw* __restrict__ draws,
                               AugmentOp op, Dims d) {
  const int64_t c = d.c;
  PYDL_GRID_STRIDE(e, d.n * d.oh * d.ow * c) {
    const int64_t ch = e % c, x = (e / c) % d.ow, y = (e / (c * d.ow)) % d.oh, i = e / (c * d.ow * d.oh);
    const Draw& dr = draws[i];
    const float* src = in + i * d.h * d.w * c;
    float v = 0.0f;
    switch (op.kind) {
      case AugmentOp::Flip:
        v = src[((dr.fy ? d.h - 1 - y : y) * d.w + (dr.fx ? d.w - 1 - x : x)) * c + ch];
        break;
      case AugmentOp::Rotate:
      case AugmentOp::Zoom: {
        double px, py;
        affine_source(dr, y, x, px, py);
        Taps t;
        v = bilinear_taps(t, d.h, d.w, c, px, py) ? bilinear_value(src, t, ch) : float(op.fill);
        break;
      }
      case AugmentOp::Crop:
      case AugmentOp::CenterCrop: {
        const int64_t s = crop_source(dr, y, x, d.h, d.w);
        v = s < 0 ? float(op.fill) : src[s * c + ch];
        break;
      }
      case AugmentOp::Brightness:
        v = clip(src[(y * d.w + x) * c + ch] + float(dr.value), float(op.low), float(op.high));
        break;
      case AugmentOp::Resize: {
        double px, py;
        int64_t s;
        resize_source(op, d.h, d.w, y, x, px, py, s);
        Taps t;
        v = op.nearest ? src[s * c + ch] : (bilinear_taps(t, d.h, d.w, c, px, py) ? bilinear_value(src, t, ch) : 0.0f);
        break;
      }
      case AugmentOp::Contrast:
        break;  // contrast_kernel
    }
    out[e] = v;
  }
}

// The mean of channel ch of image img (h * w pixels), on every thread of the block.
__device__ inline double channel_mean(const float* img, int64_t pixels, int64_t c, int64_t ch, double* shared) {
  double s = 0.0;
  for (int64_t p = threadIdx.x; p < pixels; p += blockDim.x) s += double(img[p * c + ch]);
  return block_sum(s, shared) / double(pixels);
}

// One block per (sample, channel): y = clip((x - mean) * k + mean).
__global__ void contrast_forward_kernel(float* __restrict__ out, const float* __restrict__ in,
                                        const Draw* __restrict__ draws, AugmentOp op, Dims d) {
  __shared__ double shared[32];
  const int64_t pixels = d.h * d.w;
  for (int64_t b = blockIdx.x; b < d.n * d.c; b += gridDim.x) {
    const int64_t i = b / d.c, ch = b % d.c;
    const float* img = in + i * pixels * d.c;
    const double mean = channel_mean(img, pixels, d.c, ch, shared), k = draws[i].value;
    for (int64_t p = threadIdx.x; p < pixels; p += blockDim.x) {
      const double v = aug_mul(double(img[p * d.c + ch]) - mean, k) + mean;
      const double m = op.low < v ? v : op.low;
      out[i * pixels * d.c + p * d.c + ch] = float(op.high < m ? op.high : m);
    }
  }
}

// dx_q = k u_q dy_q + (1 - k) / HW sum_p u_p dy_p, u the not-clipped mask (the CPU's formula).
__global__ void contrast_backward_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                         const float* __restrict__ x, const Draw* __restrict__ draws, AugmentOp op,
                                         Dims d) {
  __shared__ double shared[32];
  const int64_t pixels = d.h * d.w;
  for (int64_t b = blockIdx.x; b < d.n * d.c; b += gridDim.x) {
    const int64_t i = b / d.c, ch = b % d.c, base = i * pixels * d.c + ch;
    const double mean = channel_mean(x + i * pixels * d.c, pixels, d.c, ch, shared), k = draws[i].value;
    double s = 0.0;
    for (int64_t p = threadIdx.x; p < pixels; p += blockDim.x) {
      const double v = aug_mul(double(x[base + p * d.c]) - mean, k) + mean;
      if (v >= op.low && v <= op.high) s += double(dy[base + p * d.c]);
    }
    const double common = aug_mul(block_sum(s, shared), (1.0 - k) / double(pixels));
    for (int64_t p = threadIdx.x; p < pixels; p += blockDim.x) {
      const double v = aug_mul(double(x[base + p * d.c]) - mean, k) + mean;
      const double own = v >= op.low && v <= op.high ? aug_mul(k, double(dy[base + p * d.c])) : 0.0;
      dx[base + p * d.c] = float(own + common);
    }
  }
}

// The gathers: one thread per input element.
__global__ void backward_gather_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                       const float* __restrict__ x, const Draw* __restrict__ draws, AugmentOp op,
                                       Dims d) {
  const int64_t c = d.c;
  PYDL_GRID_STRIDE(e, d.n * d.h * d.w * c) {
    const int64_t ch = e % c, sx = (e / c) % d.w, sy = (e / (c * d.w)) % d.h, i = e / (c * d.w * d.h);
    const Draw& dr = draws[i];
    const float* g = dy + i * d.oh * d.ow * c;
    float v = 0.0f;
    switch (op.kind) {
      case AugmentOp::Flip:  // a permutation, its own inverse
        v = g[((dr.fy ? d.h - 1 - sy : sy) * d.w + (dr.fx ? d.w - 1 - sx : sx)) * c + ch];
        break;
      case AugmentOp::Crop:
      case AugmentOp::CenterCrop: {  // the output pixel that reads (sy, sx), if any
        const int64_t y = sy - dr.oy, xx = sx - dr.ox;
        v = y >= 0 && y < d.oh && xx >= 0 && xx < d.ow ? g[(y * d.ow + xx) * c + ch] : 0.0f;
        break;
      }
      case AugmentOp::Brightness: {  // clipped values pass no gradient
        const float t = x[e] + float(dr.value);
        v = t >= float(op.low) && t <= float(op.high) ? dy[e] : 0.0f;
        break;
      }
      default:
        break;
    }
    dx[e] = v;
  }
}

// The scatters: one thread per (sample, channel), output pixels in the CPU's order.
__global__ void backward_scatter_kernel(float* __restrict__ dx, const float* __restrict__ dy,
                                        const Draw* __restrict__ draws, AugmentOp op, Dims d) {
  const int64_t c = d.c;
  PYDL_GRID_STRIDE(b, d.n * c) {
    const int64_t i = b / c, ch = b % c;
    const Draw& dr = draws[i];
    float* img = dx + i * d.h * d.w * c;
    const float* g = dy + i * d.oh * d.ow * c;
    for (int64_t p = 0; p < d.h * d.w; ++p) img[p * c + ch] = 0.0f;
    for (int64_t y = 0; y < d.oh; ++y)
      for (int64_t x = 0; x < d.ow; ++x) {
        const double v = double(g[(y * d.ow + x) * c + ch]);
        double px, py;
        int64_t s = 0;
        if (op.kind == AugmentOp::Resize) resize_source(op, d.h, d.w, y, x, px, py, s);
        else affine_source(dr, y, x, px, py);
        if (op.kind == AugmentOp::Resize && op.nearest) {
          img[s * c + ch] += float(v);
          continue;
        }
        Taps t;
        if (bilinear_taps(t, d.h, d.w, c, px, py)) bilinear_adjoint_add(img, t, ch, v);
      }
  }
}

#undef PYDL_GRID_STRIDE

const Draw* make_draws(const AugmentOp& op, const Dims& d, uint64_t seed, uint64_t stream_id, const uint64_t* keys) {
  Draw* draws = static_cast<Draw*>(scratch(sizeof(Draw) * size_t(d.n)));
  const CounterRng rng(op.seed_set ? op.seed : seed, stream_id);
  draws_kernel<<<blocks_for(d.n), kThreads, 0, stream()>>>(draws, op, d, rng, keys);
  PYDL_CUDA_LAUNCHED("augment draws");
  return draws;
}

unsigned blocks_per_pair(const Dims& d) {
  const int64_t pairs = d.n * d.c;
  return unsigned(pairs < 65535 * 8 ? pairs : 65535 * 8);
}

void augment_forward_cuda(float* out, const float* in, int64_t n, const std::vector<int64_t>& shape,
                          const AugmentOp& op, uint64_t seed, uint64_t stream_id, const uint64_t* keys) {
  if (n < 1) return;
  const Dims d = dims_of(n, shape, op);
  const Draw* draws = make_draws(op, d, seed, stream_id, keys);
  if (op.kind == AugmentOp::Contrast) {
    contrast_forward_kernel<<<blocks_per_pair(d), kThreads, 0, stream()>>>(out, in, draws, op, d);
  } else {
    forward_kernel<<<blocks_for(d.n * d.oh * d.ow * d.c), kThreads, 0, stream()>>>(out, in, draws, op, d);
  }
  PYDL_CUDA_LAUNCHED("augment_forward");
}

void augment_backward_cuda(float* dx, const float* dy, const float* x, int64_t n, const std::vector<int64_t>& shape,
                           const AugmentOp& op, uint64_t seed, uint64_t stream_id, const uint64_t* keys) {
  if (n < 1) return;
  const Dims d = dims_of(n, shape, op);
  const Draw* draws = make_draws(op, d, seed, stream_id, keys);
  switch (op.kind) {
    case AugmentOp::Contrast:
      contrast_backward_kernel<<<blocks_per_pair(d), kThreads, 0, stream()>>>(dx, dy, x, draws, op, d);
      break;
    case AugmentOp::Rotate:
    case AugmentOp::Zoom:
    case AugmentOp::Resize:
      backward_scatter_kernel<<<blocks_for(d.n * d.c, 64), 64, 0, stream()>>>(dx, dy, draws, op, d);
      break;
    default:
      backward_gather_kernel<<<blocks_for(d.n * d.h * d.w * d.c), kThreads, 0, stream()>>>(dx, dy, x, draws, op, d);
      break;
  }
  PYDL_CUDA_LAUNCHED("augment_backward");
}

__global__ void keys_kernel(uint64_t* __restrict__ keys, int64_t n, StepClock clock, int64_t row_offset) {
  const uint64_t step = clock.now();
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    keys[i] = augment_key(step, row_offset + i);
}

void augment_keys_cuda(uint64_t* keys, int64_t n, StepClock clock, int64_t row_offset) {
  if (n < 1) return;
  keys_kernel<<<blocks_for(n), kThreads, 0, stream()>>>(keys, n, clock, row_offset);
  PYDL_CUDA_LAUNCHED("augment_keys");
}

void augment_identity_cuda(float* out, const float* in, int64_t count) {
  if (count < 1 || out == in) return;
  PYDL_CUDA_CHECK(cudaMemcpyAsync(out, in, sizeof(float) * size_t(count), cudaMemcpyDeviceToDevice, stream()));
}

}  // namespace

PYDL_CUDA_KERNEL(augment_forward, augment_forward_cuda);
PYDL_CUDA_KERNEL(augment_backward, augment_backward_cuda);
PYDL_CUDA_KERNEL_PLAIN(augment_keys, augment_keys_cuda);
PYDL_CUDA_KERNEL(augment_identity, augment_identity_cuda);

}  // namespace pydl::cuda
