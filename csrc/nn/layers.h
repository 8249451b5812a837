// Constructors of the concrete layers; make_layer (layer_factory.cc) picks one by type.
#pragma once
#include <memory>

#include "nn/layer.h"

namespace pydl {

std::unique_ptr<Layer> make_dense_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_activation_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_dropout_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_flatten_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_reshape_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_conv2d_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_max_pool2d_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_avg_pool2d_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_global_avg_pool2d_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_global_max_pool2d_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_batch_norm_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_layer_norm_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_normalization_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_embedding_layer(const LayerConfig& c);
std::unique_ptr<Layer> make_rnn_layer(const LayerConfig& c);  // simple_rnn, lstm, gru
std::unique_ptr<Layer> make_bidirectional_layer(const LayerConfig& c);
// add, subtract, multiply, average, maximum, minimum, concatenate
std::unique_ptr<Layer> make_merge_layer(const LayerConfig& c);

}  // namespace pydl
