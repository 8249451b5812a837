// UseGate: who may use one model at a time. Any number of readers (predict, evaluate: each on
// buffers of its own) or one trainer (fit, gradients: the model's own buffers and weights),
// never both. The trainer's own thread may also read, and may nest (callbacks that predict or
// evaluate between epochs). A conflict raises Busy at once instead of waiting: a second fit
// would otherwise lose steps, and a predict beside fit would read half-updated weights.
#pragma once
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>

#include "core/errors.h"

namespace pydl {

class UseGate {
 public:
  // `what` names the caller in the error ("fit", "predict").
  void enter_exclusive(const char* what) {
    std::lock_guard<std::mutex> lock(m_);
    const auto me = std::this_thread::get_id();
    if (exclusive_ > 0 && owner_ == me) {
      ++exclusive_;
      return;
    }
    if (exclusive_ > 0)
      throw Busy(std::string(what) + ": the model is being trained (" + holder_ +
                 ") in another thread; one model trains in one thread at a time");
    if (shared_ > 0)
      throw Busy(std::string(what) + ": the model is running predict/evaluate in another thread; "
                 "training cannot start beside it (wait for those calls, or train a copy of the model)");
    exclusive_ = 1;
    owner_ = me;
    holder_ = what;
  }
  void leave_exclusive() {
    std::lock_guard<std::mutex> lock(m_);
    if (--exclusive_ == 0) owner_ = std::thread::id();
  }
  void enter_shared(const char* what) {
    std::lock_guard<std::mutex> lock(m_);
    if (exclusive_ > 0 && owner_ != std::this_thread::get_id())
      throw Busy(std::string(what) + ": the model is being trained (" + holder_ +
                 ") in another thread; predict/evaluate cannot run beside it (wait for it to return, "
                 "or use a copy of the model)");
    ++shared_;
  }
  void leave_shared() {
    std::lock_guard<std::mutex> lock(m_);
    --shared_;
  }

  class Exclusive {
   public:
    Exclusive(UseGate& g, const char* what) : g_(g) { g_.enter_exclusive(what); }
    ~Exclusive() { g_.leave_exclusive(); }
    Exclusive(const Exclusive&) = delete;
    Exclusive& operator=(const Exclusive&) = delete;

   private:
    UseGate& g_;
  };
  class Shared {
   public:
    Shared(UseGate& g, const char* what) : g_(g) { g_.enter_shared(what); }
    ~Shared() { g_.leave_shared(); }
    Shared(const Shared&) = delete;
    Shared& operator=(const Shared&) = delete;

   private:
    UseGate& g_;
  };

 private:
  std::mutex m_;
  int64_t shared_ = 0;
  int64_t exclusive_ = 0;  // nesting depth of the owner thread
  std::thread::id owner_;
  std::string holder_;
};

}  // namespace pydl
