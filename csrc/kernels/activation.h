// Activations, forward and backward. Elementwise ones run over any matrix; softmax runs
// over the last axis (each row). Backward overwrites dx (which may alias dy).
#pragma once
#include <string>

#include "core/view.h"
#include "kernels/activation_formulas.h"

namespace pydl {

enum class Activation { Linear, ReLU, LeakyReLU, Sigmoid, Tanh, GELU, Softmax };

constexpr double kLeakyReluSlope = act::kLeakySlope;

Activation parse_activation(const std::string& name);  // throws ValueError naming the choices
const char* activation_name(Activation a);
// GELU's gradient needs the pre-activation input; the others are computed from the output.
inline bool activation_needs_input(Activation a) { return a == Activation::GELU; }

// y = act(x); y may alias x.
template <typename T>
void activation_forward(Matrix<T> y, Matrix<const T> x, Activation a);

// dx = dy * act'(.), from the forward output y (and input x when activation_needs_input).
template <typename T>
void activation_backward(Matrix<T> dx, Matrix<const T> dy, Matrix<const T> x, Matrix<const T> y,
                         Activation a);

// Elementwise activation of one row segment: used by the GEMM epilogue while C is hot.
template <typename T>
void activation_inplace_span(T* v, int64_t n, Activation a);

}  // namespace pydl
