// Merge layers: Add, Subtract, Multiply, Average, Maximum, Minimum (equal shapes) and
// Concatenate(axis), over two or more tensors. No weights; the math is in kernels/merge.
// Config: Concatenate axis (-1, Keras numbering: the batch axis is 0); the others none.
#include <string>
#include <vector>

#include "core/errors.h"
#include "kernels/merge.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

class MergeBase : public Layer {
 public:
  using Layer::Layer;
  int arity() const override { return kMerge; }
  Shape build(const Shape&, int) override { throw ValueError(label() + ": expected a list of at least 2 inputs"); }
  void forward(Matrix<real>, Matrix<const real>, const StepInfo&) override {}
  void backward(Matrix<real>, Matrix<real>, Matrix<const real>, Matrix<const real>) override {}

 protected:
  // Pointer tables for the kernels, sized at build: a step allocates nothing.
  void size_tables(size_t k) {
    xs_.assign(k, nullptr);
    dxs_.assign(k, nullptr);
  }
  void fill(const std::vector<Matrix<const real>>& xs) {
    for (size_t i = 0; i < xs.size(); ++i) xs_[i] = xs[i].data;
  }
  void fill(const std::vector<Matrix<real>>& dxs) {
    for (size_t i = 0; i < dxs.size(); ++i) dxs_[i] = dxs[i].data;
  }
  std::vector<const real*> xs_;
  std::vector<real*> dxs_;
};

class ElementwiseMerge : public MergeBase {
 public:
  ElementwiseMerge(const LayerConfig& c, MergeOp op) : MergeBase(c), op_(op) {}
  bool backward_reads_input() const override {
    return op_ == MergeOp::Multiply || op_ == MergeOp::Maximum || op_ == MergeOp::Minimum;
  }
  bool backward_reads_output() const override { return false; }

  Shape build_merge(const std::vector<Shape>& in, int index) override {
    index_ = index;
    if (op_ == MergeOp::Subtract && in.size() != 2)
      throw ValueError(label() + ": expected exactly 2 inputs, got " + std::to_string(in.size()));
    for (size_t i = 1; i < in.size(); ++i)
      if (in[i] != in[0])
        throw ValueError(label() + ": inputs 0 and " + std::to_string(i) + " have shapes " + shape_str(in[0]) +
                         " and " + shape_str(in[i]) + "; " + kind() + " needs equal shapes");
    size_tables(in.size());
    output_ = in[0];
    return output_;
  }
  void forward_merge(Matrix<real> y, const std::vector<Matrix<const real>>& xs, const StepInfo&) override {
    fill(xs);
    merge_forward<real>(op_, y.data, xs_.data(), int(xs.size()), y.size());
  }
  void backward_merge(const std::vector<Matrix<real>>& dxs, Matrix<real> dy, const std::vector<Matrix<const real>>& xs,
                      Matrix<const real>) override {
    fill(xs);
    fill(dxs);
    merge_backward<real>(op_, dxs_.data(), dy.data, xs_.data(), int(xs.size()), dy.size());
  }

 private:
  MergeOp op_;
};

class ConcatenateLayer : public MergeBase {
 public:
  explicit ConcatenateLayer(const LayerConfig& c) : MergeBase(c), axis_(c.get_int("axis", -1)) {}
  bool backward_reads_input() const override { return false; }
  bool backward_reads_output() const override { return false; }

  Shape build_merge(const std::vector<Shape>& in, int index) override {
    index_ = index;
    const int64_t rank = int64_t(in[0].size()), axis = axis_;
    // Keras counts the batch axis: axis -1 is the last, 1 the first per-sample axis, 0 the batch.
    if (axis == 0 || axis > rank || axis < -rank)
      throw ValueError(label() + ": axis " + std::to_string(axis) + " is not a per-sample axis of inputs " +
                       shape_str(in[0]) + " (use -" + std::to_string(rank) + " .. -1 or 1 .. " + std::to_string(rank) + ")");
    const int64_t a = axis < 0 ? rank + axis : axis - 1;
    Shape out = in[0];
    out[a] = 0;
    widths_.clear();
    for (size_t i = 0; i < in.size(); ++i) {
      bool fits = int64_t(in[i].size()) == rank;
      for (int64_t d = 0; fits && d < rank; ++d) fits = d == a || in[i][d] == in[0][d];
      if (!fits)
        throw ValueError(label() + ": inputs 0 and " + std::to_string(i) + " have shapes " + shape_str(in[0]) + " and " +
                         shape_str(in[i]) + ", which differ outside the concatenation axis " + std::to_string(axis));
      out[a] += in[i][a];
      widths_.push_back(in[i][a]);
    }
    outer_ = 1;
    inner_ = 1;
    for (int64_t d = 0; d < a; ++d) outer_ *= in[0][d];
    for (int64_t d = a + 1; d < rank; ++d) inner_ *= in[0][d];
    size_tables(in.size());
    output_ = out;
    return output_;
  }
  void forward_merge(Matrix<real> y, const std::vector<Matrix<const real>>& xs, const StepInfo&) override {
    fill(xs);
    concat_forward<real>(y.data, xs_.data(), widths_.data(), int(xs.size()), y.rows * outer_, inner_);
  }
  void backward_merge(const std::vector<Matrix<real>>& dxs, Matrix<real> dy, const std::vector<Matrix<const real>>&,
                      Matrix<const real>) override {
    fill(dxs);
    concat_backward<real>(dxs_.data(), dy.data, widths_.data(), int(dxs.size()), dy.rows * outer_, inner_);
  }

 private:
  int64_t axis_;
  std::vector<int64_t> widths_;
  int64_t outer_ = 1, inner_ = 1;  // per sample
};

PYDL_REGISTER_LAYER("add", "Add", (construct_with<ElementwiseMerge, MergeOp::Add>));
PYDL_REGISTER_LAYER("subtract", "Subtract", (construct_with<ElementwiseMerge, MergeOp::Subtract>));
PYDL_REGISTER_LAYER("multiply", "Multiply", (construct_with<ElementwiseMerge, MergeOp::Multiply>));
PYDL_REGISTER_LAYER("average", "Average", (construct_with<ElementwiseMerge, MergeOp::Average>));
PYDL_REGISTER_LAYER("maximum", "Maximum", (construct_with<ElementwiseMerge, MergeOp::Maximum>));
PYDL_REGISTER_LAYER("minimum", "Minimum", (construct_with<ElementwiseMerge, MergeOp::Minimum>));
PYDL_REGISTER_LAYER("concatenate", "Concatenate", construct<ConcatenateLayer>);

}  // namespace
}  // namespace pydl
