// Non-owning tensor views: a pointer, a row-major shape and the device it lives on.
// Kernels take views; buffers are owned by the network's plan (see buffer.h).
#pragma once
#include <cstdint>
#include <cstddef>
#include <type_traits>

namespace pydl {

enum class Device { CPU, CUDA };

// Row-major matrix view: the shape every dense kernel works on. Higher-rank tensors are
// handed to dense kernels flattened to (rows = batch, cols = features per sample).
template <typename T>
struct Matrix {
  T* data = nullptr;
  int64_t rows = 0;
  int64_t cols = 0;
  Device device = Device::CPU;

  Matrix() = default;
  Matrix(T* d, int64_t r, int64_t c, Device dev = Device::CPU)
      : data(d), rows(r), cols(c), device(dev) {}
  // A view of mutable data can always be read as const.
  template <typename U = T, typename = std::enable_if_t<!std::is_const_v<U>>>
  operator Matrix<const U>() const { return Matrix<const U>(data, rows, cols, device); }

  int64_t size() const { return rows * cols; }
  T* row(int64_t i) const { return data + i * cols; }
};

}  // namespace pydl
