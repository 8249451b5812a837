#include "core/interrupt.h"

namespace pydl {
namespace {
std::atomic<bool> g_requested{false};
bool g_active = false;  // nested guards (fit called from a callback) share the outer handler

extern "C" void on_sigint(int) { g_requested.store(true, std::memory_order_relaxed); }
}  // namespace

InterruptGuard::InterruptGuard(bool install) {
  if (!install || g_active) return;
  g_active = true;
  installed_ = true;
  g_requested.store(false);
  struct sigaction sa {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, &previous_);
}

InterruptGuard::~InterruptGuard() {
  if (!installed_) return;
  sigaction(SIGINT, &previous_, nullptr);
  g_active = false;
}

bool InterruptGuard::requested() { return g_requested.load(std::memory_order_relaxed); }

}  // namespace pydl
