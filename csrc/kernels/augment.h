// Image augmentation on channels-last images (N, H, W, C), per sample random and
// reproducible: sample i's draws are a pure function of (seed, stream, keys[i]), so a
// batch comes out the same whatever thread or prefetch depth produced it.
// For fixed draws every op is a linear map of its input (clipping aside: Brightness and
// Contrast pass no gradient where they clip), so augment_backward is its exact adjoint:
// dx = J^T dy, overwritten (=). Templates over float (training, the loader) and double
// (the float64 engine's gradient checks).
// Geometry follows Pillow: pixel centres at +0.5, positive angles turn counter-clockwise,
// bilinear samples outside the image take the fill value, neighbours at the border clamp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/host_device.h"
#include "kernels/step_results.h"

namespace pydl {

struct AugmentOp {
  enum Kind { Flip, Rotate, Crop, Zoom, Brightness, Contrast, Resize, CenterCrop };
  Kind kind = Flip;
  bool horizontal = true, vertical = false;  // Flip
  double degrees = 0.0;                      // Rotate: uniform in [-degrees, degrees]
  double factor = 0.0;                       // Zoom: scale in [1 - f, 1 + f]; Brightness: delta in
                                             // [-f, f] * range; Contrast: scale in [1 - f, 1 + f]
  // Rotate (degrees) and Zoom (scale): an explicit range [range_low, range_high] replaces the
  // symmetric one when range_set (a fixed angle or zoom when both ends are equal).
  bool range_set = false;
  double range_low = 0.0, range_high = 0.0;
  double fill = 0.0;                         // Rotate, Zoom, Crop padding
  int64_t height = 0, width = 0;             // Crop, Resize, CenterCrop output size
  int64_t padding = 0;                       // Crop
  bool nearest = false;                      // Resize
  double low = 0.0, high = 255.0;            // Brightness, Contrast: value range (clip)
  // Crop: the centre offset of the padded image instead of a random one (a RandomCrop layer
  // in evaluate/predict, as Keras' does: the output shape stays the same).
  bool centered = false;
  // The op's own seed (a transform built with seed=): replaces the caller's seed.
  bool seed_set = false;
  uint64_t seed = 0;
};

// (H, W, C) after the op; throws ValueError when the op cannot apply to that shape.
std::vector<int64_t> augment_output_shape(const AugmentOp& op, const std::vector<int64_t>& in);

// Applies one op to n images: out (n, out_shape) from in (n, in_shape). keys[i] names sample
// i (null: key i). out may not alias in.
template <typename T>
void augment_forward(T* out, const T* in, int64_t n, const std::vector<int64_t>& in_shape, const AugmentOp& op,
                     uint64_t seed, uint64_t stream, const uint64_t* keys);

// The adjoint of augment_forward with the same (seed, stream, keys): dx (n, in_shape) from
// dy (n, out_shape); x is the forward input (the clip masks of Brightness and Contrast).
template <typename T>
void augment_backward(T* dx, const T* dy, const T* x, int64_t n, const std::vector<int64_t>& in_shape,
                      const AugmentOp& op, uint64_t seed, uint64_t stream, const uint64_t* keys);

// The key of global batch row `row` at optimizer step `step` (as Dropout's: the step in the
// high bits, the row in the low), and keys[i] = augment_key(clock.now(), row_offset + i) for n
// rows, written where keys lives (the host, or the device a graph runs on).
PYDL_HOST_DEVICE inline uint64_t augment_key(uint64_t step, int64_t row) { return (step << 32) + uint64_t(row); }
void augment_keys(uint64_t* keys, int64_t n, StepClock clock, int64_t row_offset);

// out = in, count values (an augmentation layer outside training: the identity).
template <typename T>
void augment_identity(T* out, const T* in, int64_t count);

// A sequence of ops with ping-pong buffers sized once for a batch.
class AugmentPipeline {
 public:
  AugmentPipeline() = default;
  AugmentPipeline(std::vector<AugmentOp> ops, std::vector<int64_t> in_shape);
  const std::vector<int64_t>& output_shape() const { return out_shape_; }
  int64_t scratch_size(int64_t n) const;  // floats of scratch for n images
  bool empty() const { return ops_.empty(); }
  // out may not alias in; scratch holds scratch_size(n) floats.
  void apply(float* out, const float* in, int64_t n, uint64_t seed, const uint64_t* keys, float* scratch) const;

 private:
  std::vector<AugmentOp> ops_;
  std::vector<std::vector<int64_t>> shapes_;  // shape before each op, then the output shape
  std::vector<int64_t> out_shape_;
};

}  // namespace pydl
