#include "nn/layer_registry.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <map>

#include "core/errors.h"

namespace pydl {
namespace {

// A function-local static: registrars in other files may run before anything here.
std::map<std::string, LayerType>& table() {
  static std::map<std::string, LayerType> t;
  return t;
}

std::string known_types() {
  std::string s;
  for (const auto& [type, entry] : table()) s += (s.empty() ? "" : ", ") + type;
  return s;
}

}  // namespace

LayerRegistrar::LayerRegistrar(const char* type, const char* kind, LayerFactory make) {
  if (!table().emplace(type, LayerType{type, kind, make}).second) {
    std::fprintf(stderr, "pydl: layer type '%s' is registered twice\n", type);
    std::abort();
  }
}

std::vector<LayerType> registered_layer_types() {
  std::vector<LayerType> out;
  for (const auto& [type, entry] : table()) out.push_back(entry);
  return out;
}

std::unique_ptr<Layer> make_layer(const LayerConfig& c) {
  const std::string type = c.get_string("type");
  const auto it = table().find(type);
  if (it == table().end())
    throw ValueError("layer '" + c.name() + "': unknown layer type '" + type + "' (known types: " + known_types() +
                     ")");
  // A copy: the read record belongs to this construction (replicas build their layers again).
  LayerConfig cfg = c;
  cfg.forget_reads();
  cfg.set_kind(it->second.kind);
  std::unique_ptr<Layer> layer;
  try {
    layer = it->second.make(cfg);
  } catch (const ValueError& e) {  // shared parsers (activations, windows) do not know the layer
    const std::string msg = e.what(), label = cfg.label();
    if (msg.rfind(label, 0) == 0) throw;
    throw ValueError(label + ": " + msg);
  }
  cfg.check_all_read();
  return layer;
}

}  // namespace pydl
