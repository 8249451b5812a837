// CUDA activations: elementwise ones one thread per element (grid-stride), softmax and its
// backward one block per row with the deterministic block reductions of reduce.cuh (fixed
// block size, so the sums are bitwise the same run to run). The elementwise formulas are
// kernels/activation_formulas.h, the very definitions the CPU uses.
#include "activation.cuh"

#include <cfloat>

#include "context.h"
#include "core/errors.h"
#include "kernels/activation.h"
#include "reduce.cuh"
#include "registry.h"

namespace pydl::cuda {
namespace {

constexpr unsigned kThreads = 256;
constexpr unsigned kRowThreads = 128;  // softmax: a block per row; rows are usually short

template <Activation A>
__device__ inline float forward_one(float v) {
  if constexpr (A == Activation::ReLU) return act::relu(v);
  else if constexpr (A == Activation::LeakyReLU) return act::leaky_relu(v);
  else if constexpr (A == Activation::Sigmoid) return act::sigmoid(v);
  else if constexpr (A == Activation::Tanh) return act::tanh(v);
  else if constexpr (A == Activation::GELU) return act::gelu(v);
  else return v;
}

template <Activation A>
__global__ void forward_kernel(float* y, const float* x, int64_t n) {  // y may alias x
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = forward_one<A>(x[i]);
}

// g may alias d (dx overwriting dy): each element is read before it is written, by one thread.
template <Activation A>
__global__ void backward_kernel(float* g, const float* d, const float* x, const float* y, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    if constexpr (A == Activation::ReLU) g[i] = act::relu_backward(d[i], y[i]);
    else if constexpr (A == Activation::LeakyReLU) g[i] = act::leaky_relu_backward(d[i], y[i]);
    else if constexpr (A == Activation::Sigmoid) g[i] = act::sigmoid_backward(d[i], y[i]);
    else if constexpr (A == Activation::Tanh) g[i] = act::tanh_backward(d[i], y[i]);
    else if constexpr (A == Activation::GELU) g[i] = act::gelu_backward(d[i], x[i]);
    else g[i] = d[i];
  }
}

// As the CPU: m = max, y = exp(x - m), then y *= 1 / sum. y may alias x: every element is
// read and written by the same thread, the max read before any write (the block_max barrier).
__global__ void softmax_kernel(float* y, const float* x, int64_t rows, int64_t cols) {
  __shared__ float shared[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* xr = x + r * cols;
    float* yr = y + r * cols;
    float m = -FLT_MAX;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) m = fmaxf(m, xr[j]);
    m = block_max(m, shared, -FLT_MAX);
    float s = 0.f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) {
      const float e = std::exp(xr[j] - m);
      yr[j] = e;
      s += e;
    }
    const float inv = 1.f / block_sum(s, shared);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) yr[j] *= inv;
  }
}

// dx = y * (dy - sum(dy * y)) per row; dx may alias dy (read by the same thread first).
__global__ void softmax_backward_kernel(float* g, const float* d, const float* y, int64_t rows, int64_t cols) {
  __shared__ float shared[32];
  for (int64_t r = blockIdx.x; r < rows; r += gridDim.x) {
    const float* dr = d + r * cols;
    const float* yr = y + r * cols;
    float* gr = g + r * cols;
    float dot = 0.f;
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) dot += dr[j] * yr[j];
    dot = block_sum(dot, shared);
    for (int64_t j = threadIdx.x; j < cols; j += blockDim.x) gr[j] = yr[j] * (dr[j] - dot);
  }
}

unsigned row_blocks(int64_t rows) { return unsigned(rows < 65535 * 8 ? (rows < 1 ? 1 : rows) : 65535 * 8); }

template <Activation A>
void launch_forward(float* y, const float* x, int64_t n) {
  forward_kernel<A><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(y, x, n);
  PYDL_CUDA_LAUNCHED("activation_forward");
}

template <Activation A>
void launch_backward(float* g, const float* d, const float* x, const float* y, int64_t n) {
  backward_kernel<A><<<blocks_for(n, kThreads), kThreads, 0, stream()>>>(g, d, x, y, n);
  PYDL_CUDA_LAUNCHED("activation_backward");
}

}  // namespace

void activation_forward_cuda(Matrix<float> y, Matrix<const float> x, Activation a) {
  const int64_t n = x.size();
  if (n == 0) return;
  switch (a) {
    case Activation::Linear:
      if (y.data != x.data)
        PYDL_CUDA_CHECK(cudaMemcpyAsync(y.data, x.data, sizeof(float) * n, cudaMemcpyDeviceToDevice, stream()));
      return;
    case Activation::ReLU: return launch_forward<Activation::ReLU>(y.data, x.data, n);
    case Activation::LeakyReLU: return launch_forward<Activation::LeakyReLU>(y.data, x.data, n);
    case Activation::Sigmoid: return launch_forward<Activation::Sigmoid>(y.data, x.data, n);
    case Activation::Tanh: return launch_forward<Activation::Tanh>(y.data, x.data, n);
    case Activation::GELU: return launch_forward<Activation::GELU>(y.data, x.data, n);
    case Activation::Softmax:
      if (x.cols < 1) return;
      softmax_kernel<<<row_blocks(x.rows), kRowThreads, 0, stream()>>>(y.data, x.data, x.rows, x.cols);
      PYDL_CUDA_LAUNCHED("softmax_forward");
      return;
  }
}

void activation_backward_cuda(Matrix<float> dx, Matrix<const float> dy, Matrix<const float> x,
                              Matrix<const float> y, Activation a) {
  const int64_t n = dy.size();
  if (a == Activation::GELU && !x.data) throw ValueError("GELU backward needs the pre-activation input");
  if (n == 0) return;
  switch (a) {
    case Activation::Linear:
      if (dx.data != dy.data)
        PYDL_CUDA_CHECK(cudaMemcpyAsync(dx.data, dy.data, sizeof(float) * n, cudaMemcpyDeviceToDevice, stream()));
      return;
    case Activation::ReLU: return launch_backward<Activation::ReLU>(dx.data, dy.data, x.data, y.data, n);
    case Activation::LeakyReLU: return launch_backward<Activation::LeakyReLU>(dx.data, dy.data, x.data, y.data, n);
    case Activation::Sigmoid: return launch_backward<Activation::Sigmoid>(dx.data, dy.data, x.data, y.data, n);
    case Activation::Tanh: return launch_backward<Activation::Tanh>(dx.data, dy.data, x.data, y.data, n);
    case Activation::GELU: return launch_backward<Activation::GELU>(dx.data, dy.data, x.data, y.data, n);
    case Activation::Softmax:
      softmax_backward_kernel<<<row_blocks(dy.rows), kRowThreads, 0, stream()>>>(dx.data, dy.data, y.data, dy.rows,
                                                                                dy.cols);
      PYDL_CUDA_LAUNCHED("softmax_backward");
      return;
  }
}

PYDL_CUDA_KERNEL(activation_forward, activation_forward_cuda);
PYDL_CUDA_KERNEL(activation_backward, activation_backward_cuda);

}  // namespace pydl::cuda
