// make_layer, and the small shape helpers every layer uses.
#include "core/errors.h"
#include "core/sizes.h"
#include "nn/layers.h"

namespace pydl {

std::string shape_str(const Shape& s) {
  std::string out = "(None";
  for (int64_t d : s) out += ", " + std::to_string(d);
  return out + ")";
}

int64_t shape_size(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) {
    if (d < 0 || (d > 0 && n > kMaxElements / d))
      throw ValueError("shape " + shape_str(s) + ": more than 2^48 values per sample (or a negative size)");
    n *= d;
  }
  return n;
}

std::unique_ptr<Layer> make_layer(const LayerConfig& c) {
  if (c.type == "dense") return make_dense_layer(c);
  if (c.type == "activation") return make_activation_layer(c);
  if (c.type == "dropout") return make_dropout_layer(c);
  if (c.type == "flatten") return make_flatten_layer(c);
  if (c.type == "reshape") return make_reshape_layer(c);
  if (c.type == "conv2d") return make_conv2d_layer(c);
  if (c.type == "max_pool2d") return make_max_pool2d_layer(c);
  if (c.type == "avg_pool2d") return make_avg_pool2d_layer(c);
  if (c.type == "global_avg_pool2d") return make_global_avg_pool2d_layer(c);
  if (c.type == "global_max_pool2d") return make_global_max_pool2d_layer(c);
  if (c.type == "batch_norm") return make_batch_norm_layer(c);
  if (c.type == "layer_norm") return make_layer_norm_layer(c);
  if (c.type == "normalization") return make_normalization_layer(c);
  if (c.type == "embedding") return make_embedding_layer(c);
  if (c.type == "simple_rnn" || c.type == "lstm" || c.type == "gru") return make_rnn_layer(c);
  if (c.type == "bidirectional") return make_bidirectional_layer(c);
  if (c.type == "add" || c.type == "subtract" || c.type == "multiply" || c.type == "average" ||
      c.type == "maximum" || c.type == "minimum" || c.type == "concatenate")
    return make_merge_layer(c);
  throw ValueError("layer '" + c.name + "': unknown layer type '" + c.type + "'");
}

}  // namespace pydl
