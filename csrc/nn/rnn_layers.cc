// SimpleRNN, LSTM, GRU and Bidirectional over (None, steps, features) inputs.
// Config: units, return_sequences (false), activation (SimpleRNN only: tanh); Bidirectional
// also cell (simple_rnn, lstm or gru: activation only with simple_rnn) and merge_mode (concat).
#include "core/buffer.h"
#include "core/errors.h"
#include "core/sizes.h"
#include "kernels/merge.h"
#include "kernels/rnn.h"
#include "nn/layer_registry.h"

namespace pydl {
namespace {

// One direction of a recurrent layer: its geometry, parameter specs and workspace.
struct RnnCore {
  RnnArgs args;
  Buffer<real> ws;

  void build(const Layer& l, const Shape& in, RnnCell cell, int64_t units, const std::string& act, bool seq,
             bool reverse) {
    if (in.size() != 2)
      throw ValueError(l.label() + ": expected sequences (None, steps, features), got " + shape_str(in));
    if (units < 1) throw ValueError(l.label() + ": expected units >= 1, got " + std::to_string(units));
    checked_mul(4, units, l.label() + " units");  // gates and a Bidirectional concat multiply it
    args.cell = cell;
    args.t = in[0];
    args.f = in[1];
    args.u = units;
    args.act = parse_activation(act.empty() ? "tanh" : act);
    args.return_sequences = seq;
    args.reverse = reverse;
  }
  std::vector<ParamSpec> specs(const std::string& prefix) const {
    const int64_t gu = args.gu();
    ParamSpec bias{prefix + "bias", {gu}, args.cell == RnnCell::LSTM ? Init::LstmBias : Init::Zeros, 0, 0};
    if (args.cell == RnnCell::GRU) bias.shape = {2, gu};  // input bias, recurrent bias
    return {{prefix + "kernel", {args.f, gu}, Init::GlorotUniform, args.f, gu},
            {prefix + "recurrent_kernel", {args.u, gu}, Init::Orthogonal, 0, 0},
            bias};
  }
  void plan(int64_t max_batch) {
    RnnArgs a = args;
    a.n = max_batch;
    ws.resize(rnn_workspace(a));
  }
  void forward(real* y, const real* x, const RnnWeights<real>& w, const uint8_t* mask, int64_t n) {
    RnnArgs a = args;
    a.n = n;
    rnn_forward<real>(y, x, w, mask, nullptr, nullptr, a, ws.data());
  }
  // g: the gradients of kernel, recurrent_kernel and bias (accumulated).
  void backward(real* dx, real* const g[3], const real* dy, const real* x, const RnnWeights<real>& w,
                const uint8_t* mask, int64_t n) {
    RnnArgs a = args;
    a.n = n;
    rnn_backward<real>(dx, g[0], g[1], g[2], nullptr, nullptr, dy, x, w, mask, nullptr, nullptr, a, ws.data());
  }
  int64_t out_units() const { return args.u; }
};

// A layer running RnnCores: each core's three weights are the specs first .. first + 2.
class RecurrentLayer : public Layer {
 public:
  RecurrentLayer(const LayerConfig& c, RnnCell cell)
      : Layer(c), cell_(cell), units_(c.get_int("units")), return_sequences_(c.get_bool("return_sequences", false)),
        activation_(cell == RnnCell::Simple ? c.get_string("activation", "tanh") : "tanh") {}
  bool passes_mask() const override { return return_sequences_; }

 protected:
  RnnCell cell_;
  int64_t units_;
  bool return_sequences_;
  std::string activation_;

  RnnWeights<real> weights(size_t first) const { return {param(first), param(first + 1), param(first + 2)}; }
  void forward_core(RnnCore& core, size_t first, real* y, Matrix<const real> x) {
    core.forward(y, x.data, weights(first), mask_, x.rows);
  }
  void backward_core(RnnCore& core, size_t first, real* dx, const real* dy, Matrix<const real> x) {
    real* const g[3] = {grad(first), grad(first + 1), grad(first + 2)};
    core.backward(dx, g, dy, x.data, weights(first), mask_, x.rows);
  }
};

class RnnLayer : public RecurrentLayer {
 public:
  using RecurrentLayer::RecurrentLayer;
  Shape build(const Shape& in, int index) override {
    input_ = in;
    index_ = index;
    core_.build(*this, in, cell_, units_, activation_, return_sequences_, false);
    output_ = return_sequences_ ? Shape{in[0], units_} : Shape{units_};
    return output_;
  }
  std::vector<ParamSpec> param_specs() const override { return core_.specs(""); }
  void plan(int64_t max_batch) override { core_.plan(max_batch); }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo&) override {
    forward_core(core_, 0, y.data, x);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    backward_core(core_, 0, dx.data, dy.data, x);
  }

 private:
  RnnCore core_;
};

// Runs the wrapped cell forwards and backwards in time and merges the two outputs.
class BidirectionalLayer : public RecurrentLayer {
 public:
  explicit BidirectionalLayer(const LayerConfig& c)
      : RecurrentLayer(c, parse_rnn_cell(c.get_string("cell"))),
        merge_(parse_bidirectional_merge(c.get_string("merge_mode", "concat"))) {}
  Shape build(const Shape& in, int index) override {
    input_ = in;
    index_ = index;
    fwd_.build(*this, in, cell_, units_, activation_, return_sequences_, false);
    bwd_.build(*this, in, cell_, units_, activation_, return_sequences_, true);
    const int64_t width = merge_ == BidirectionalMerge::Concat ? checked_mul(2, units_, label()) : units_;
    output_ = return_sequences_ ? Shape{in[0], width} : Shape{width};
    return output_;
  }
  std::vector<ParamSpec> param_specs() const override {
    auto p = fwd_.specs("forward_");
    for (auto& s : bwd_.specs("backward_")) p.push_back(s);
    return p;
  }
  void plan(int64_t max_batch) override {
    fwd_.plan(max_batch);
    bwd_.plan(max_batch);
    const int64_t per = (return_sequences_ ? input_[0] : 1) * units_;
    yf_.resize(max_batch * per);
    yb_.resize(max_batch * per);
    dyf_.resize(max_batch * per);
    dyb_.resize(max_batch * per);
    dxb_.resize(max_batch * shape_size(input_));
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo&) override {
    forward_core(fwd_, 0, yf_.data(), x);
    forward_core(bwd_, kBackwardFirst, yb_.data(), x);
    bidirectional_merge_forward<real>(merge_, y.data, yf_.data(), yb_.data(), merged_rows(x.rows), units_);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    bidirectional_merge_backward<real>(merge_, dyf_.data(), dyb_.data(), dy.data, yf_.data(), yb_.data(),
                                        merged_rows(x.rows), units_);
    backward_core(fwd_, 0, dx.data, dyf_.data(), x);
    backward_core(bwd_, kBackwardFirst, dx.data ? dxb_.data() : nullptr, dyb_.data(), x);
    if (dx.data) {  // both directions read x: their input gradients add (y may alias xs[0])
      const real* parts[2] = {dx.data, dxb_.data()};
      merge_forward<real>(MergeOp::Add, dx.data, parts, 2, dx.size());
    }
  }

 private:
  static constexpr size_t kBackwardFirst = 3;  // param_specs: forward_'s three, then backward_'s
  // Rows of units each direction outputs: one per step with return_sequences, else one.
  int64_t merged_rows(int64_t batch) const { return batch * (return_sequences_ ? input_[0] : 1); }
  BidirectionalMerge merge_;
  RnnCore fwd_, bwd_;
  Buffer<real> yf_, yb_, dyf_, dyb_, dxb_;
};

template <RnnCell Cell>
std::unique_ptr<Layer> construct_rnn(const LayerConfig& c) {
  return std::make_unique<RnnLayer>(c, Cell);
}

PYDL_REGISTER_LAYER("simple_rnn", "SimpleRNN", construct_rnn<RnnCell::Simple>);
PYDL_REGISTER_LAYER("lstm", "LSTM", construct_rnn<RnnCell::LSTM>);
PYDL_REGISTER_LAYER("gru", "GRU", construct_rnn<RnnCell::GRU>);
PYDL_REGISTER_LAYER("bidirectional", "Bidirectional", construct<BidirectionalLayer>);

}  // namespace
}  // namespace pydl
