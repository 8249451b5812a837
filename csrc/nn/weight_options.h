// What a layer's config says about one of its weights, with Keras' key names: the
// initializer ("<prefix>_initializer", a name of nn/initializers.h) and the regularizer
// factors ("<prefix>_l1", "<prefix>_l2", finite and >= 0; Python sends them from
// pydl.regularizers). prefix: "kernel", "bias", "recurrent" (the recurrent kernel),
// "embeddings".
#pragma once
#include <string>

#include "nn/layer.h"
#include "nn/layer_config.h"

namespace pydl {

struct WeightOptions {
  Init init = Init::Zeros;
  double l1 = 0.0, l2 = 0.0;

  // Reads the three keys (absent: dflt and no regularizer); ValueError naming the layer.
  static WeightOptions parse(const LayerConfig& c, const std::string& prefix, Init dflt);
  // spec with this initializer and these factors.
  ParamSpec apply(ParamSpec spec) const {
    spec.init = init;
    spec.l1 = l1;
    spec.l2 = l2;
    return spec;
  }
};

}  // namespace pydl
