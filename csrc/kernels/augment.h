// Image augmentation on channels-last float images (N, H, W, C), per sample random and
// reproducible: sample i's draws are a pure function of (seed, op index, keys[i]), so a
// batch comes out the same whatever thread or prefetch depth produced it.
// Geometry follows Pillow: pixel centres at +0.5, positive angles turn counter-clockwise,
// bilinear samples outside the image take the fill value, neighbours at the border clamp.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

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
};

// (H, W, C) after the op; throws ValueError when the op cannot apply to that shape.
std::vector<int64_t> augment_output_shape(const AugmentOp& op, const std::vector<int64_t>& in);

// Applies one op to n images: out (n, out_shape) from in (n, in_shape). keys[i] names sample i.
void augment_apply(float* out, const float* in, int64_t n, const std::vector<int64_t>& in_shape,
                   const AugmentOp& op, uint64_t seed, uint64_t stream, const uint64_t* keys);

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
