// Ctrl-C during a long C++ loop: while an InterruptGuard lives, SIGINT only sets a flag,
// which the training loop reads at batch boundaries. The previous handler comes back after.
#pragma once
#include <atomic>
#include <csignal>

namespace pydl {

class InterruptGuard {
 public:
  // install=false makes a guard that never fires (e.g. when called off the main thread,
  // where the process-wide SIGINT handler is not ours to replace).
  explicit InterruptGuard(bool install = true);
  ~InterruptGuard();
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

  static bool requested();

 private:
  bool installed_ = false;
  struct sigaction previous_ {};
};

}  // namespace pydl
