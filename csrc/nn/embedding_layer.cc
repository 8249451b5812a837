// Embedding: integer ids (stored as float, exact up to 2^24) -> rows of a (input_dim,
// output_dim) table. With mask_zero, id 0 marks padding and the layer emits a step mask.
// Ids travel as float32, which holds every integer up to 2^24 and rounds above it (2^24 + 1
// reads as 2^24): larger vocabularies are refused rather than silently aliased.
// Config: input_dim, output_dim, mask_zero (default false), embeddings_initializer (default
// random_uniform, Keras' U(-0.05, 0.05)) and embeddings_l1 / _l2 (nn/weight_options.h). The
// math is in kernels/embedding.
#include <algorithm>

#include "core/buffer.h"
#include "core/device_memory.h"
#include "core/errors.h"
#include "kernels/embedding.h"
#include "nn/layer_registry.h"
#include "nn/weight_options.h"

namespace pydl {
namespace {

constexpr int64_t kMaxVocabulary = int64_t(1) << 24;

class EmbeddingLayer : public Layer {
 public:
  explicit EmbeddingLayer(const LayerConfig& c)
      : Layer(c), input_dim_(c.get_int("input_dim")), output_dim_(c.get_int("output_dim")),
        mask_zero_(c.get_bool("mask_zero", false)),
        embeddings_(WeightOptions::parse(c, "embeddings", Init::RandomUniform)) {
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
    return {embeddings_.apply({"embeddings", {input_dim_, output_dim_}, Init::RandomUniform, 0, 0})};
  }
  void plan(int64_t max_batch) override {
    if (mask_zero_) mask_out_.resize(max_batch * shape_size(input_));
    ids_.resize(max_batch * shape_size(input_));
  }
  const uint8_t* output_mask() const override { return mask_zero_ ? mask_out_.data() : nullptr; }

  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    const int64_t count = x.size();
    if (s.step_results) {  // fit's queued steps: a bad id stops training there, read later
      embedding_ids_into<real>(s.step_results, layer_tag(*this), ids_.data(),
                               mask_zero_ ? mask_out_.data() : nullptr, x.data, count, input_dim_);
      embedding_forward<real>(y.data, ids_.data(), param(0), count, output_dim_);
      rows_ = count;
      return;
    }
    const int64_t bad = embedding_ids<real>(ids_.data(), mask_zero_ ? mask_out_.data() : nullptr, x.data, count,
                                             input_dim_);
    if (bad >= 0) {
      real id = 0;
      download_values(&id, x.data + bad, 1);  // x may live on a device
      throw ValueError(label() + ": id " + std::to_string(id) + " at flat position " + std::to_string(bad) +
                       " is not an integer in [0, " + std::to_string(input_dim_) + ")");
    }
    embedding_forward<real>(y.data, ids_.data(), param(0), count, output_dim_);
    rows_ = count;
  }

  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real>, Matrix<const real>) override {
    embedding_backward<real>(grad(0), dy.data, ids_.data(), rows_, output_dim_);  // only the used rows
    if (dx.data) zero_values(dx.data, dx.size());  // ids have no gradient
  }

 private:
  int64_t input_dim_, output_dim_;
  bool mask_zero_;
  WeightOptions embeddings_;
  Buffer<int64_t> ids_;
  Buffer<uint8_t> mask_out_;
  int64_t rows_ = 0;
};

PYDL_REGISTER_LAYER("embedding", "Embedding", construct<EmbeddingLayer>);

}  // namespace
}  // namespace pydl
