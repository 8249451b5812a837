// SimpleRNN, LSTM, GRU and Bidirectional over (None, steps, features) inputs.
// Config: units, return_sequences (false), activation (SimpleRNN only: tanh); dropout and
// recurrent_dropout (0: in training, one mask per sequence and feature / unit, the same at
// every step, drawn from (seed, step, node index, direction)); per weight its initializer
// and regularizer factors (nn/weight_options.h): kernel_*, recurrent_*, bias_*; LSTM also
// unit_forget_bias (true). Bidirectional also cell (simple_rnn, lstm or gru: activation only
// with simple_rnn) and merge_mode (concat); each direction draws its own masks.
#include <utility>

#include "core/buffer.h"
#include "core/errors.h"
#include "core/rng.h"
#include "core/sizes.h"
#include "kernels/merge.h"
#include "kernels/rnn.h"
#include "nn/layer_registry.h"
#include "nn/weight_options.h"

namespace pydl {
namespace {

// The weight and dropout options a recurrent layer's config holds (the same for both
// directions of a Bidirectional).
struct RnnOptions {
  WeightOptions kernel, recurrent, bias;
  bool unit_forget_bias = true;
  double dropout = 0.0, recurrent_dropout = 0.0;

  RnnOptions(const LayerConfig& c, RnnCell cell)
      : kernel(WeightOptions::parse(c, "kernel", Init::GlorotUniform)),
        recurrent(WeightOptions::parse(c, "recurrent", Init::Orthogonal)),
        bias(WeightOptions::parse(c, "bias", Init::Zeros)),
        unit_forget_bias(cell == RnnCell::LSTM ? c.get_bool("unit_forget_bias", true) : false),
        dropout(c.get_double("dropout", 0.0)), recurrent_dropout(c.get_double("recurrent_dropout", 0.0)) {
    for (auto [key, v] : {std::pair<const char*, double>{"dropout", dropout}, {"recurrent_dropout", recurrent_dropout}})
      if (!(v >= 0.0 && v < 1.0))
        throw ValueError(c.label() + ": expected 0 <= " + key + " < 1, got " + std::to_string(v));
  }
};

// One direction of a recurrent layer: its geometry, parameter specs, workspace and dropout.
struct RnnCore {
  RnnArgs args;
  Buffer<real> ws, in_scale, rec_scale;
  bool dropped = false;  // the last forward ran with dropout (backward must use its masks)

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
    if (cell == RnnCell::Simple && !simple_rnn_supports(args.act))  // its backward computes act' from h
      throw ValueError(l.label() + ": activation '" + activation_name(args.act) +
                       "' is not supported by SimpleRNN; expected one of linear, relu, leaky_relu, sigmoid, tanh");
    args.return_sequences = seq;
    args.reverse = reverse;
  }
  std::vector<ParamSpec> specs(const std::string& prefix, const RnnOptions& o) const {
    const int64_t gu = args.gu();
    const bool lstm = args.cell == RnnCell::LSTM;
    ParamSpec bias = o.bias.apply({prefix + "bias", {gu}, Init::Zeros, 0, 0});
    bias.forget_ones = lstm && o.unit_forget_bias;
    if (args.cell == RnnCell::GRU) bias.shape = {2, gu};  // input bias, recurrent bias
    return {o.kernel.apply({prefix + "kernel", {args.f, gu}, Init::GlorotUniform, args.f, gu}),
            o.recurrent.apply({prefix + "recurrent_kernel", {args.u, gu}, Init::Orthogonal, args.u, gu}),
            bias};
  }
  void plan(int64_t max_batch, const RnnOptions& o) {
    RnnArgs a = args;
    a.n = max_batch;
    ws.resize(rnn_workspace(a));
    if (o.dropout > 0) in_scale.resize(max_batch * args.f);
    if (o.recurrent_dropout > 0) rec_scale.resize(max_batch * args.u);
  }
  // Training with a rate > 0: fresh masks for this step from stream (seed, `stream`).
  void draw(const StepInfo& s, const RnnOptions& o, uint64_t stream, int64_t n) {
    dropped = s.training && (o.dropout > 0 || o.recurrent_dropout > 0);
    if (!dropped) return;
    CounterRng rng(s.seed, stream);
    const StepClock clock{s.step, s.step_results};
    if (o.dropout > 0) rnn_dropout_scales<real>(in_scale.data(), n * args.f, o.dropout, rng, clock, 0);
    // The recurrent masks take the second half of the step's counter range.
    if (o.recurrent_dropout > 0)
      rnn_dropout_scales<real>(rec_scale.data(), n * args.u, o.recurrent_dropout, rng, clock, 1ULL << 31);
  }
  RnnDropout<real> drop() const {
    if (!dropped) return {};
    return {in_scale.size() ? in_scale.data() : nullptr, rec_scale.size() ? rec_scale.data() : nullptr};
  }
  void forward(real* y, const real* x, const RnnWeights<real>& w, const uint8_t* mask, int64_t n) {
    RnnArgs a = args;
    a.n = n;
    rnn_forward<real>(y, x, w, mask, nullptr, nullptr, a, ws.data(), drop());
  }
  // g: the gradients of kernel, recurrent_kernel and bias (accumulated).
  void backward(real* dx, real* const g[3], const real* dy, const real* x, const RnnWeights<real>& w,
                const uint8_t* mask, int64_t n) {
    RnnArgs a = args;
    a.n = n;
    rnn_backward<real>(dx, g[0], g[1], g[2], nullptr, nullptr, dy, x, w, mask, nullptr, nullptr, a, ws.data(),
                        drop());
  }
  int64_t out_units() const { return args.u; }
};

// A layer running RnnCores: each core's three weights are the specs first .. first + 2.
class RecurrentLayer : public Layer {
 public:
  RecurrentLayer(const LayerConfig& c, RnnCell cell)
      : Layer(c), cell_(cell), units_(c.get_int("units")), return_sequences_(c.get_bool("return_sequences", false)),
        activation_(cell == RnnCell::Simple ? c.get_string("activation", "tanh") : "tanh"), options_(c, cell) {}
  bool passes_mask() const override { return return_sequences_; }

 protected:
  RnnCell cell_;
  int64_t units_;
  bool return_sequences_;
  std::string activation_;
  RnnOptions options_;

  RnnWeights<real> weights(size_t first) const { return {param(first), param(first + 1), param(first + 2)}; }
  // direction: 0 forwards, 1 backwards in time (each draws its own masks).
  void forward_core(RnnCore& core, size_t first, real* y, Matrix<const real> x, const StepInfo& s, int direction) {
    core.draw(s, options_, 0x7d0d0000ULL + 2 * uint64_t(index_) + uint64_t(direction), x.rows);
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
  std::vector<ParamSpec> param_specs() const override { return core_.specs("", options_); }
  void plan(int64_t max_batch) override { core_.plan(max_batch, options_); }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    forward_core(core_, 0, y.data, x, s, 0);
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
    auto p = fwd_.specs("forward_", options_);
    for (auto& s : bwd_.specs("backward_", options_)) p.push_back(s);
    return p;
  }
  void plan(int64_t max_batch) override {
    fwd_.plan(max_batch, options_);
    bwd_.plan(max_batch, options_);
    const int64_t per = (return_sequences_ ? input_[0] : 1) * units_;
    yf_.resize(max_batch * per);
    yb_.resize(max_batch * per);
    dyf_.resize(max_batch * per);
    dyb_.resize(max_batch * per);
    dxb_.resize(max_batch * shape_size(input_));
  }
  void forward(Matrix<real> y, Matrix<const real> x, const StepInfo& s) override {
    forward_core(fwd_, 0, yf_.data(), x, s, 0);
    forward_core(bwd_, kBackwardFirst, yb_.data(), x, s, 1);
    bidirectional_merge_forward<real>(merge_, y.data, yf_.data(), yb_.data(), merged_rows(x.rows), units_);
  }
  void backward(Matrix<real> dx, Matrix<real> dy, Matrix<const real> x, Matrix<const real>) override {
    bidirectional_merge_backward<real>(merge_, dyf_.data(), dyb_.data(), dy.data, yf_.data(), yb_.data(),
                                        merged_rows(x.rows), units_);
    backward_core(fwd_, 0, dx.data, dyf_.data(), x);
    backward_core(bwd_, kBackwardFirst, dx.data ? dxb_.data() : nullptr, dyb_.data(), x);
    if (dx.data) {  // both directions read x: their input gradients add (y may alias xs[0])
      add_into<real>(dx.data, dxb_.data(), dx.size());
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

PYDL_REGISTER_LAYER("simple_rnn", "SimpleRNN", (construct_with<RnnLayer, RnnCell::Simple>));
PYDL_REGISTER_LAYER("lstm", "LSTM", (construct_with<RnnLayer, RnnCell::LSTM>));
PYDL_REGISTER_LAYER("gru", "GRU", (construct_with<RnnLayer, RnnCell::GRU>));
PYDL_REGISTER_LAYER("bidirectional", "Bidirectional", construct<BidirectionalLayer>);

}  // namespace
}  // namespace pydl
