// The layer registry: each layer file registers its type(s) once, next to the class, with
// PYDL_REGISTER_LAYER("dense", "Dense", construct<DenseLayer>). make_layer looks the type up,
// runs the layer's constructor (which parses its own config) and then rejects every config
// key the constructor did not read.
//
// The registrars are static objects nobody references, so the linker would drop them from a
// static archive: CMakeLists.txt builds pydl_core as an OBJECT library, whose every object is
// linked into whatever uses it.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/layer.h"

namespace pydl {

using LayerFactory = std::unique_ptr<Layer> (*)(const LayerConfig&);

struct LayerType {
  std::string type;  // the config's "type": "dense"
  std::string kind;  // what errors and summaries call it: "Dense"
  LayerFactory make;
};

// Registers one type at static-initialisation time; a type registered twice aborts (a bug
// caught the first time the module loads, in every test run).
struct LayerRegistrar {
  LayerRegistrar(const char* type, const char* kind, LayerFactory make);
};

template <class L>
std::unique_ptr<Layer> construct(const LayerConfig& c) {
  return std::make_unique<L>(c);
}

// A class serving several types, told apart by one fixed constructor argument (the merge op,
// the recurrent cell, max or average): construct_with<ElementwiseMerge, MergeOp::Add>.
template <class L, auto Arg>
std::unique_ptr<Layer> construct_with(const LayerConfig& c) {
  return std::make_unique<L>(c, Arg);
}

// Every registered type, sorted by type.
std::vector<LayerType> registered_layer_types();

// Builds the layer config.type() names; ValueError for an unknown type (listing the known
// ones), an unknown key or a wrong-typed value.
std::unique_ptr<Layer> make_layer(const LayerConfig& config);

}  // namespace pydl

#define PYDL_LAYER_CAT2(a, b) a##b
#define PYDL_LAYER_CAT(a, b) PYDL_LAYER_CAT2(a, b)
#define PYDL_REGISTER_LAYER(type, kind, factory) \
  static const ::pydl::LayerRegistrar PYDL_LAYER_CAT(pydl_layer_registrar_, __COUNTER__)(type, kind, factory)
