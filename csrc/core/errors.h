// Exceptions of the C++ core. The bindings translate them to Python's ValueError,
// TypeError, MemoryError, RuntimeError and KeyboardInterrupt; the core itself never includes pybind11.
#pragma once
#include <stdexcept>
#include <string>

namespace pydl {

// Bad shapes, values or configuration: becomes ValueError.
struct ValueError : std::invalid_argument {
  using std::invalid_argument::invalid_argument;
};

// Wrong kind of argument: becomes TypeError.
struct TypeError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// An allocation that cannot succeed (more than the machine's memory): becomes MemoryError.
struct MemoryError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A model used by two threads at once in a way that would race (fit beside anything else):
// becomes RuntimeError.
struct Busy : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Raised at a batch boundary after Ctrl-C: becomes KeyboardInterrupt.
struct Interrupted : std::runtime_error {
  Interrupted() : std::runtime_error("interrupted") {}
};

#define PYDL_CHECK(cond, msg)                        \
  do {                                               \
    if (!(cond)) throw ::pydl::ValueError(msg);      \
  } while (0)

}  // namespace pydl
