// Scaled dot-product attention, fused (FlashAttention-style), forward and backward:
//   O = softmax(scale * Q K^T + mask) V,   scale = 1 / sqrt(dk) unless given.
// Layout: batch, time, heads, features, what the input projections produce without a
// transpose: Q (N, Tq, H, dk), K (N, Tk, H, dk), V (N, Tk, H, dv), O (N, Tq, H, dv).
// Per (batch, head), tiles of queries meet tiles of keys with an online softmax: the Tq x Tk
// score matrix is never stored. Forward keeps only the row-wise log-sum-exp, lse (N, H, Tq);
// backward recomputes the scores tile by tile from it. Memory stays linear in T.
//
// Masks (each optional, 1 = attend): key (N, Tk) padding, query (N, Tq) padding (a masked
// query row attends to nothing), attn (N, Tq, Tk) general, causal (key j <= query i, which
// needs Tq == Tk). Tiles that are masked entirely are skipped. A query row that may attend to
// no key weighs every key 1 / Tk (O = the mean of V; what Keras' masked softmax gives, never
// NaN); its lse is +inf, and only dV gets its gradient.
//
// Dropout on the attention weights (training): weight (i, j) is kept with probability
// 1 - dropout and scaled by 1 / (1 - dropout); keep bits are counter-based draws of
// (rng, flat index of (b, h, i, j)), so backward regenerates exactly forward's.
//
// OpenMP over (batch, head) pairs, each computed whole by one thread in a fixed order: results
// are bitwise identical for any thread count. dq, dk, dv are overwritten (=).
#pragma once
#include <cstdint>
#include <string>

#include "core/errors.h"
#include "core/rng.h"
#include "kernels/step_results.h"

namespace pydl {

struct AttentionArgs {
  int64_t n = 0, tq = 0, tk = 0, heads = 0, dk = 0, dv = 0;
  bool causal = false;
  double scale = 0.0;    // 0: 1 / sqrt(dk)
  double dropout = 0.0;  // rate on the attention weights, in [0, 1)
  // The keep bits when dropout > 0: attention_dropout_rng's draws.
  uint64_t dropout_seed = 0, dropout_stream = 0;
  StepClock clock;  // the step mixed into the seed (read on the device in a queued step)
};

// The generator of the keep bits: a fresh key per optimizer step. Evaluated inside the kernels
// (a queued step's clock lives on the device).
PYDL_HOST_DEVICE inline CounterRng attention_dropout_rng(const AttentionArgs& a) {
  return CounterRng(a.dropout_seed ^ mix64(a.clock.now()), a.dropout_stream);
}

struct AttentionMasks {
  const uint8_t* key = nullptr;    // (N, Tk)
  const uint8_t* query = nullptr;  // (N, Tq)
  const uint8_t* attn = nullptr;   // (N, Tq, Tk)
};

// Throws ValueError naming the bad size (any below 1, dropout outside [0, 1), causal with
// Tq != Tk). Inline: pydl._cuda's kernels check with their own copy.
inline void check_attention_args(const AttentionArgs& a) {
  if (a.n < 1 || a.tq < 1 || a.tk < 1 || a.heads < 1 || a.dk < 1 || a.dv < 1)
    throw ValueError("attention: expected every size >= 1, got N=" + std::to_string(a.n) + " Tq=" +
                     std::to_string(a.tq) + " Tk=" + std::to_string(a.tk) + " heads=" + std::to_string(a.heads) +
                     " dk=" + std::to_string(a.dk) + " dv=" + std::to_string(a.dv));
  if (!(a.dropout >= 0.0 && a.dropout < 1.0))
    throw ValueError("attention: expected 0 <= dropout < 1, got " + std::to_string(a.dropout));
  if (a.causal && a.tq != a.tk)
    throw ValueError("attention: a causal mask needs as many queries as keys, got Tq=" + std::to_string(a.tq) +
                     " and Tk=" + std::to_string(a.tk));
}

// o (N, Tq, H, dv), lse (N, H, Tq) are overwritten.
template <typename T>
void attention_forward(T* o, T* lse, const T* q, const T* k, const T* v, const AttentionMasks& m,
                       const AttentionArgs& a);

// dout shaped like o; o and lse as forward left them. dq, dk, dv overwritten (=).
template <typename T>
void attention_backward(T* dq, T* dk, T* dv, const T* dout, const T* q, const T* k, const T* v, const T* o,
                        const T* lse, const AttentionMasks& m, const AttentionArgs& a);

// The attention weights themselves, P = softmax(scale * Q K^T + mask) (N, H, Tq, Tk), before
// dropout, for callers that ask to see them (return_attention_scores): this stores the
// Tq x Tk matrix the fused kernels avoid. Masks and fully masked rows as above (1 / Tk).
template <typename T>
void attention_scores_forward(T* p, const T* q, const T* k, const AttentionMasks& m, const AttentionArgs& a);

// dp (N, H, Tq, Tk) and p as forward left it; dq, dk overwritten (=).
template <typename T>
void attention_scores_backward(T* dq, T* dk, const T* dp, const T* p, const T* q, const T* k, const AttentionMasks& m,
                               const AttentionArgs& a);

// The MultiHeadAttention layer's mask plumbing, as kernels so that it runs where the layer's
// buffers live. out = a & b: the value's and the key's padding masks ANDed (Keras), n bytes.
void attention_key_mask_forward(uint8_t* out, const uint8_t* a, const uint8_t* b, int64_t n);
// out = m > 0.5: an attention_mask input (0/1 values) as the kernels' uint8 mask.
template <typename T>
void attention_mask_forward(uint8_t* out, const T* m, int64_t n);
// dx = 0 (n values): the gradient of an input the output does not depend on (the
// attention_mask; the value of the scores node).
template <typename T>
void attention_zero_backward(T* dx, int64_t n);

}  // namespace pydl
