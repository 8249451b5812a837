// Recurrent cells over whole sequences, forward and backward through time: SimpleRNN,
// LSTM (gates i, f, g, o) and GRU (gates r, z, n; n = tanh(W_n x + b_in + r * (U_n h + b_hn)),
// PyTorch's and cuDNN's formulation). x is (N, T, F), batch first; internally time-major so
// each step's recurrent product is one GEMM over contiguous rows. The input projection of the
// whole sequence is one GEMM. Masked steps (mask[n, t] == 0) leave the state unchanged and
// get no gradient. Parameter gradients accumulate (+=); dx is overwritten (=).
// Dropout (training only, RnnDropout): the input scale (N, F) multiplies x_t and the recurrent
// scale (N, U) multiplies the state entering the recurrent product h_{t-1} U, the same at
// every step (one mask per sequence, as Keras; Gal & Ghahramani's variational dropout). The
// cell update itself (LSTM's c, GRU's z * h_{t-1}) reads the undropped state.
#pragma once
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "core/host_device.h"
#include "core/rng.h"
#include "kernels/activation.h"
#include "kernels/step_results.h"

namespace pydl {

enum class RnnCell { Simple, LSTM, GRU };

// "simple_rnn" (or "simple"), "lstm", "gru"; throws ValueError naming the choices.
RnnCell parse_rnn_cell(const std::string& name);

struct RnnArgs {
  RnnCell cell = RnnCell::LSTM;
  int64_t n = 0, t = 0, f = 0, u = 0;  // batch, steps, features, units
  Activation act = Activation::Tanh;   // SimpleRNN only
  bool reverse = false;                // process steps from last to first (Bidirectional)
  bool return_sequences = false;       // y is (N, T, U), else the final state (N, U)

  PYDL_HOST_DEVICE int64_t gates() const { return cell == RnnCell::LSTM ? 4 : cell == RnnCell::GRU ? 3 : 1; }
  PYDL_HOST_DEVICE int64_t gu() const { return gates() * u; }
};

// Weights: kernel (F, G*U), recurrent (U, G*U), bias: (G*U) for SimpleRNN/LSTM, (2, 3U) for
// GRU (input bias then recurrent bias).
template <typename T>
struct RnnWeights {
  const T* kernel = nullptr;
  const T* recurrent = nullptr;
  const T* bias = nullptr;  // may be null (no bias)
};

// Inverted-dropout scales (0 or 1 / (1 - rate)), null for none: input (N, F), recurrent (N, U).
template <typename T>
struct RnnDropout {
  const T* input = nullptr;
  const T* recurrent = nullptr;
};

// Draws n inverted-dropout scales: 0 with probability rate, else 1 / (1 - rate); value i is a
// pure function of (rng, counter + i), counter = (clock.now() << 32) + offset, whatever the
// thread count (as kernels/dropout.h).
template <typename T>
void rnn_dropout_scales(T* scale, int64_t n, double rate, const CounterRng& rng, StepClock clock, uint64_t offset);

// SimpleRNN's backward computes act' from the output h: only activations the output
// determines (not softmax, which is row-wise, nor gelu, whose derivative needs the input).
inline bool simple_rnn_supports(Activation a) {
  return a == Activation::Linear || a == Activation::ReLU || a == Activation::LeakyReLU ||
         a == Activation::Sigmoid || a == Activation::Tanh;
}

// Throws ValueError for what the cells cannot compute. Inline: pydl._cuda's kernels check
// with their own copy.
inline void check_rnn_args(const RnnArgs& a) {
  if (a.cell == RnnCell::Simple && !simple_rnn_supports(a.act))
    throw ValueError("SimpleRNN: expected activation linear, relu, leaky_relu, sigmoid or tanh");
}

// Per-sequence storage kept from forward to backward, planned once (rnn_workspace floats).
int64_t rnn_workspace(const RnnArgs& a);

// h0, c0: initial states (N, U), null for zeros; mask (N, T), null for none.
template <typename T>
void rnn_forward(T* y, const T* x, const RnnWeights<T>& w, const uint8_t* mask, const T* h0,
                 const T* c0, const RnnArgs& a, T* workspace, const RnnDropout<T>& drop = {});

// dy shaped like y. dk, dr, db accumulate; dx (N, T, F), dh0, dc0 (N, U) are overwritten
// and skipped when null. The workspace must hold what the matching forward left there; drop
// must be the forward's.
template <typename T>
void rnn_backward(T* dx, T* dk, T* dr, T* db, T* dh0, T* dc0, const T* dy, const T* x,
                  const RnnWeights<T>& w, const uint8_t* mask, const T* h0, const T* c0,
                  const RnnArgs& a, T* workspace, const RnnDropout<T>& drop = {});

}  // namespace pydl
