// 2-D convolution over channels-last images: x (N, H, W, C), kernel (KH, KW, C, F),
// bias (F), y (N, OH, OW, F). Computed as im2col + one GEMM per group of images, so the
// column buffer stays a few MB; groups are fixed by the shape, never by the thread count.
// Parameter gradients accumulate (+=); dx is overwritten (=). CUDA version: cuda/conv2d.cu
// (im2col into the same workspace + cuBLAS, same groups).
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "core/view.h"
#include "kernels/activation.h"

namespace pydl {

struct Conv2dArgs {
  int64_t n = 0, h = 0, w = 0, c = 0;  // input
  int64_t f = 0, kh = 1, kw = 1;       // filters, kernel
  int64_t sh = 1, sw = 1, dh = 1, dw = 1;
  int64_t pad_top = 0, pad_left = 0;   // bottom/right padding follows from oh/ow
  int64_t oh = 0, ow = 0;              // output

  int64_t patch() const { return kh * kw * c; }  // columns of the im2col matrix
  int64_t out_pixels() const { return oh * ow; }
  // Images per forward GEMM group (all of them where forward needs no columns).
  int64_t group_images() const;
  // Images whose im2col columns fit the workspace (backward's groups; inline: the CUDA
  // kernels size their groups by it too), and the column workspace (floats) they need.
  static constexpr int64_t kColumnBudget = 1 << 20;  // floats of im2col per group (4 MB in float)
  int64_t column_group() const {
    const int64_t per_image = std::max<int64_t>(1, out_pixels() * patch());
    return std::max<int64_t>(1, std::min(n, kColumnBudget / per_image));
  }
  // Backward still forms columns for the kernel gradient, even where forward is direct.
  int64_t workspace_size() const { return pointwise() ? 0 : column_group() * out_pixels() * patch(); }
  // 1x1, stride 1, no padding: the input already is the column matrix.
  bool pointwise() const { return kh == 1 && kw == 1 && sh == 1 && sw == 1 && pad_top == 0 && pad_left == 0; }
};

// Output size and padding for "valid", "same" (TensorFlow/Keras: extra pixel at the
// bottom/right) or explicit symmetric padding (ph, pw). Throws ValueError when the kernel does
// not fit. `owner` names the layer in errors.
Conv2dArgs conv2d_args(int64_t h, int64_t w, int64_t c, int64_t f, int64_t kh, int64_t kw,
                       int64_t sh, int64_t sw, int64_t dh, int64_t dw, const std::string& padding,
                       int64_t ph, int64_t pw, const std::string& owner);

// y = act(conv(x, k) + b); z receives the pre-activation when z is non-null.
template <typename T>
void conv2d_forward(T* y, T* z, const T* x, const T* k, const T* b, Activation act,
                    const Conv2dArgs& a, T* workspace);

// dy (N, OH, OW, F) is overwritten with the gradient before the activation; dk, db
// accumulate; dx is overwritten, skipped when null. reduce_ws (conv2d_reduce_workspace
// doubles, or null) lets the bias gradient sum rows in parallel.
template <typename T>
void conv2d_backward(T* dx, T* dk, T* db, T* dy, const T* x, const T* y, const T* z, const T* k,
                     Activation act, const Conv2dArgs& a, T* workspace, double* reduce_ws);
int64_t conv2d_reduce_workspace(const Conv2dArgs& a);

}  // namespace pydl
