// PositionEmbedding (KerasHub): a learned table (sequence_length, features); on an input
// (T, features) with T <= sequence_length it outputs the table's first T rows for every sample,
// for the caller to add (x + PositionEmbedding(L)(x)). The input only gives the shape: its
// gradient is 0. The padding mask passes through.
// Config: sequence_length.
#include <algorithm>

#include "core/device_memory.h"
#include "core/errors.h"
#include "kernels/position_embedding.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

class PositionEmbeddingLayer : public Layer {
 public:
  explicit PositionEmbeddingLayer(const LayerConfig& c) : Layer(c), length_(c.get_int("sequence_length")) {
    if (length_ < 1) throw ValueError(label() + ": expected sequence_length >= 1, got " + std::to_string(length_));
  }
  bool backward_reads_input() const override { return false; }
  bool backward_reads_output() const override { return false; }
  bool passes_mask() const override { return true; }

  Shape build(const Shape& in, int index) override {
    if (in.size() != 2)
      throw ValueError(label() + ": expected sequences (None, steps, features), got " + shape_str(in));
    if (in[0] > length_)
      throw ValueError(label() + ": the input has " + std::to_string(in[0]) + " steps, more than sequence_length=" +
                       std::to_string(length_) + "; give PositionEmbedding a sequence_length >= " +
                       std::to_string(in[0]));
    input_ = output_ = in;
    index_ = index;
    return output_;
  }
  std::vector<ParamSpec> param_specs() const override {
    return {{"embeddings", {length_, input_[1]}, Init::GlorotUniform, length_, input_[1]}};
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo&) override {
    position_embedding_forward<real>(y.data, param(0), x.rows, input_[0], input_[1]);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real>, Matrix<const real>) override {
    position_embedding_backward<real>(grad(0), dy.data, dy.rows, input_[0], input_[1]);
    if (dx.data) zero_values(dx.data, dx.size());
  }

 private:
  int64_t length_;
};

PYDL_REGISTER_LAYER("position_embedding", "PositionEmbedding", construct<PositionEmbeddingLayer>);

}  // namespace
}  // namespace pydl
