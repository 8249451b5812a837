// Embedding: integer ids (stored as float, exact up to 2^24) -> rows of a (input_dim,
// output_dim) table. With mask_zero, id 0 marks padding and the layer emits a step mask.
// Ids travel as float32, which holds every integer up to 2^24 and rounds above it (2^24 + 1
// reads as 2^24): larger vocabularies are refused rather than silently aliased.
// Config: input_dim, output_dim, mask_zero (default false).
#include <cmath>

#include "core/buffer.h"
#include "core/errors.h"
#include "core/parallel.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

constexpr int64_t kMaxVocabulary = int64_t(1) << 24;

class EmbeddingLayer : public Layer {
 public:
  explicit EmbeddingLayer(const LayerConfig& c)
      : Layer(c), input_dim_(c.get_int("input_dim")), output_dim_(c.get_int("output_dim")),
        mask_zero_(c.get_bool("mask_zero", false)) {
    if (input_dim_ < 1 || output_dim_ < 1)
      throw ValueError(label() + ": expected input_dim >= 1 and output_dim >= 1");
    if (input_dim_ > kMaxVocabulary)
      throw ValueError(label() + ": input_dim " + std::to_string(input_dim_) +
                       " is beyond 16,777,216 (2^24), the largest vocabulary whose ids float32 inputs carry exactly");
  }

  Shape build(const Shape& in, int index) override {
    input_ = in;
    index_ = index;
    output_ = in;
    output_.push_back(output_dim_);
    return output_;
  }
  std::vector<ParamSpec> param_specs() const override {
    return {{"embeddings", {input_dim_, output_dim_}, Init::EmbeddingUniform, 0, 0}};
  }
  void plan(int64_t max_batch) override {
    if (mask_zero_) mask_out_.resize(max_batch * shape_size(input_));
    ids_.resize(max_batch * shape_size(input_));
  }
  const uint8_t* output_mask() const override { return mask_zero_ ? mask_out_.data() : nullptr; }

  void forward(Matrix<float> y, Matrix<const float> x, const StepInfo&) override {
    const int64_t count = x.size(), d = output_dim_;
    for (int64_t i = 0; i < count; ++i) {
      const float v = x.data[i];
      if (!(v >= 0.0f && v < float(input_dim_)) || v != std::floor(v))
        throw ValueError(label() + ": id " + std::to_string(v) + " at flat position " + std::to_string(i) +
                         " is not an integer in [0, " + std::to_string(input_dim_) + ")");
      ids_.data()[i] = int64_t(v);
      if (mask_zero_) mask_out_.data()[i] = ids_.data()[i] != 0;
    }
    parallel_range(count, std::max<int64_t>(1, 8192 / d), [&](int64_t i0, int64_t i1) {
      for (int64_t i = i0; i < i1; ++i) {
        const float* row = param(0) + ids_.data()[i] * d;
        std::copy(row, row + d, y.data + i * d);
      }
    });
    rows_ = count;
  }

  void backward(Matrix<float> dx, Matrix<float> dy, Matrix<const float>, Matrix<const float>) override {
    const int64_t d = output_dim_;
    // Only the rows that were used are touched. Split over the embedding columns, rows in
    // order: the sum order never depends on the thread count.
    parallel_range(d, rows_ * d >= (1 << 15) ? 32 : d, [&](int64_t j0, int64_t j1) {
      for (int64_t i = 0; i < rows_; ++i) {
        float* g = grad(0) + ids_.data()[i] * d;
        const float* src = dy.data + i * d;
        for (int64_t j = j0; j < j1; ++j) g[j] += src[j];
      }
    });
    if (dx.data) std::fill(dx.data, dx.data + dx.size(), 0.0f);  // ids have no gradient
  }

 private:
  int64_t input_dim_, output_dim_;
  bool mask_zero_;
  Buffer<int64_t> ids_;
  Buffer<uint8_t> mask_out_;
  int64_t rows_ = 0;
};

PYDL_REGISTER_LAYER("embedding", "Embedding", construct<EmbeddingLayer>);

}  // namespace

}  // namespace pydl
