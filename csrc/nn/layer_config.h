// LayerConfig: a layer's configuration as generic key/value pairs (what the Python dict held),
// parsed by the layer itself through typed getters. Every getter records its key, present or
// not, so that after the constructor the registry can reject keys nobody asked for and list
// the ones the layer knows. A value of the wrong type is a ValueError naming the layer, the
// key and the value. None means "not given": a getter with a default returns the default,
// a getter without one raises.
#pragma once
#include <cstdint>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace pydl {

class LayerConfig {
 public:
  using IntList = std::vector<int64_t>;
  using None = std::monostate;
  using Value = std::variant<None, int64_t, double, bool, std::string, IntList>;

  // Adds (or replaces) a key; keys keep their first insertion order.
  void set(const std::string& key, Value v);

  // Untracked peeks for the registry and the graph: "" when absent or not a string.
  std::string type() const { return peek_string("type"); }
  std::string name() const { return peek_string("name"); }

  // "Dense": set by the registry before the layer's constructor runs; errors use label().
  void set_kind(std::string kind) { kind_ = std::move(kind); }
  const std::string& kind() const { return kind_; }
  std::string label() const { return kind_ + " '" + name() + "'"; }

  // Typed getters (tracked). get_double accepts ints; lists hold ints only.
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t dflt) const;
  double get_double(const std::string& key) const;
  double get_double(const std::string& key, double dflt) const;
  bool get_bool(const std::string& key) const;
  bool get_bool(const std::string& key, bool dflt) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& dflt) const;
  IntList get_int_list(const std::string& key) const;
  IntList get_int_list(const std::string& key, const IntList& dflt) const;
  // For keys that take one of two shapes (Conv2D padding: a string or a list): tracked.
  bool holds_string(const std::string& key) const;

  // The keys read so far, in first-read order.
  const std::vector<std::string>& keys_read() const { return read_; }
  void forget_reads() const { read_.clear(); }
  // Throws ValueError "Dense 'd': unknown config key 'foo' (expected one of units, ..., name)"
  // for the first key present but never read ("type" is the registry's).
  void check_all_read() const;

  // Python-like text of a value, for messages: 3, 0.5, True, 'relu', [1, 2], None.
  static std::string repr(const Value& v);

 private:
  const Value* find(const std::string& key) const;  // tracked; null when absent or None
  std::string peek_string(const std::string& key) const;
  [[noreturn]] void wrong_type(const std::string& key, const char* expected, const Value& got) const;
  [[noreturn]] void missing(const std::string& key, const char* expected) const;

  std::vector<std::pair<std::string, Value>> entries_;
  std::string kind_ = "layer";
  mutable std::vector<std::string> read_;
};

}  // namespace pydl
