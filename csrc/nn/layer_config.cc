#include "nn/layer_config.h"

#include <algorithm>
#include <charconv>

#include "core/errors.h"

namespace pydl {

void LayerConfig::set(const std::string& key, Value v) {
  for (auto& e : entries_)
    if (e.first == key) {
      e.second = std::move(v);
      return;
    }
  entries_.emplace_back(key, std::move(v));
}

std::string LayerConfig::repr(const Value& v) {
  struct Show {
    std::string operator()(None) const { return "None"; }
    std::string operator()(int64_t i) const { return std::to_string(i); }
    std::string operator()(double d) const {
      char buf[32];
      auto r = std::to_chars(buf, buf + sizeof buf, d);  // shortest round trip, as Python
      std::string s(buf, r.ptr);
      if (s.find_first_of(".eni") == std::string::npos) s += ".0";
      return s;
    }
    std::string operator()(bool b) const { return b ? "True" : "False"; }
    std::string operator()(const std::string& s) const { return "'" + s + "'"; }
    std::string operator()(const IntList& l) const {
      std::string s = "[";
      for (size_t i = 0; i < l.size(); ++i) s += (i ? ", " : "") + std::to_string(l[i]);
      return s + "]";
    }
  };
  return std::visit(Show{}, v);
}

const LayerConfig::Value* LayerConfig::find(const std::string& key) const {
  if (std::find(read_.begin(), read_.end(), key) == read_.end()) read_.push_back(key);
  for (const auto& e : entries_)
    if (e.first == key) return std::holds_alternative<None>(e.second) ? nullptr : &e.second;
  return nullptr;
}

std::string LayerConfig::peek_string(const std::string& key) const {
  for (const auto& e : entries_)
    if (e.first == key) {
      const auto* s = std::get_if<std::string>(&e.second);
      return s ? *s : std::string();
    }
  return {};
}

void LayerConfig::wrong_type(const std::string& key, const char* expected, const Value& got) const {
  throw ValueError(label() + ": config key '" + key + "' expected " + expected + ", got " + repr(got));
}

void LayerConfig::missing(const std::string& key, const char* expected) const {
  throw ValueError(label() + ": config key '" + key + "' is required (" + expected + ")");
}

int64_t LayerConfig::get_int(const std::string& key) const {
  const Value* v = find(key);
  if (!v) missing(key, "an int");
  if (const auto* i = std::get_if<int64_t>(v)) return *i;
  wrong_type(key, "an int", *v);
}

int64_t LayerConfig::get_int(const std::string& key, int64_t dflt) const {
  return find(key) ? get_int(key) : dflt;
}

double LayerConfig::get_double(const std::string& key) const {
  const Value* v = find(key);
  if (!v) missing(key, "a number");
  if (const auto* d = std::get_if<double>(v)) return *d;
  if (const auto* i = std::get_if<int64_t>(v)) return double(*i);
  wrong_type(key, "a number", *v);
}

double LayerConfig::get_double(const std::string& key, double dflt) const {
  return find(key) ? get_double(key) : dflt;
}

bool LayerConfig::get_bool(const std::string& key) const {
  const Value* v = find(key);
  if (!v) missing(key, "True or False");
  if (const auto* b = std::get_if<bool>(v)) return *b;
  wrong_type(key, "True or False", *v);
}

bool LayerConfig::get_bool(const std::string& key, bool dflt) const { return find(key) ? get_bool(key) : dflt; }

std::string LayerConfig::get_string(const std::string& key) const {
  const Value* v = find(key);
  if (!v) missing(key, "a string");
  if (const auto* s = std::get_if<std::string>(v)) return *s;
  wrong_type(key, "a string", *v);
}

std::string LayerConfig::get_string(const std::string& key, const std::string& dflt) const {
  return find(key) ? get_string(key) : dflt;
}

LayerConfig::IntList LayerConfig::get_int_list(const std::string& key) const {
  const Value* v = find(key);
  if (!v) missing(key, "a list of ints");
  if (const auto* l = std::get_if<IntList>(v)) return *l;
  wrong_type(key, "a list of ints", *v);
}

LayerConfig::IntList LayerConfig::get_int_list(const std::string& key, const IntList& dflt) const {
  return find(key) ? get_int_list(key) : dflt;
}

bool LayerConfig::holds_string(const std::string& key) const {
  const Value* v = find(key);
  return v && std::holds_alternative<std::string>(*v);
}

void LayerConfig::check_all_read() const {
  for (const auto& e : entries_) {
    if (e.first == "type" || std::find(read_.begin(), read_.end(), e.first) != read_.end()) continue;
    std::string known;
    for (const auto& k : read_)
      if (k != "name" && k != "type") known += k + ", ";
    throw ValueError(label() + ": unknown config key '" + e.first + "' (expected one of " + known + "name)");
  }
}

}  // namespace pydl
