#include "nn/mpi_reducer.h"

#include <dlfcn.h>

#include <algorithm>
#include <chrono>
#include <climits>
#include <cstring>
#include <thread>
#include <vector>

#include "core/errors.h"
#include "core/interrupt.h"

namespace pydl {
namespace {

constexpr int kFailTag = 7;
constexpr int kFailBytes = 1024;          // a failure message, padded: one fixed-size receive
constexpr int64_t kMaxCount = 1 << 30;    // MPI counts are int: longer transfers go in chunks

void* find(void* lib, const char* name) {
  void* f = dlsym(lib, name);
  if (!f) throw ValueError(std::string("pydl.distributed: ") + name + " not found in the MPI library mpi4py loaded");
  return f;
}

// The MPI functions with handles of type H (int for MPICH, void* for Open MPI).
template <typename H>
struct Api {
  int (*comm_rank)(H, int*);
  int (*comm_size)(H, int*);
  int (*iallreduce)(const void*, void*, int, H, H, H, H*);
  int (*ibcast)(void*, int, H, int, H, H*);
  int (*testall)(int, H*, int*, void*);
  int (*iprobe)(int, int, H, int*, void*);
  int (*recv)(void*, int, H, int, int, H, void*);
  int (*isend)(const void*, int, H, int, int, H, H*);
  int (*abort)(H, int);

  explicit Api(void* lib) {
    comm_rank = reinterpret_cast<decltype(comm_rank)>(find(lib, "MPI_Comm_rank"));
    comm_size = reinterpret_cast<decltype(comm_size)>(find(lib, "MPI_Comm_size"));
    iallreduce = reinterpret_cast<decltype(iallreduce)>(find(lib, "MPI_Iallreduce"));
    ibcast = reinterpret_cast<decltype(ibcast)>(find(lib, "MPI_Ibcast"));
    testall = reinterpret_cast<decltype(testall)>(find(lib, "MPI_Testall"));
    iprobe = reinterpret_cast<decltype(iprobe)>(find(lib, "MPI_Iprobe"));
    recv = reinterpret_cast<decltype(recv)>(find(lib, "MPI_Recv"));
    isend = reinterpret_cast<decltype(isend)>(find(lib, "MPI_Isend"));
    abort = reinterpret_cast<decltype(abort)>(find(lib, "MPI_Abort"));
  }
};

template <typename H>
H handle(int64_t v) {
  if constexpr (std::is_pointer_v<H>) return reinterpret_cast<H>(static_cast<uintptr_t>(v));
  else return static_cast<H>(v);
}

template <typename H>
class MpiReducer final : public GradientReducer {
 public:
  MpiReducer(void* lib, const MpiHandles& h)
      : api_(lib), comm_(handle<H>(h.comm)), fail_comm_(handle<H>(h.fail_comm)), float_(handle<H>(sizeof(real) == sizeof(float) ? h.float_type : h.double_type)),
        double_(handle<H>(h.double_type)), byte_(handle<H>(h.byte_type)), sum_(handle<H>(h.sum_op)),
        status_bytes_(h.status_bytes), timeout_s_(h.timeout_s),
        bucket_floats_(std::min<int64_t>(h.bucket_floats, kMaxCount)) {
    check(api_.comm_rank(comm_, &rank_), "MPI_Comm_rank");
    check(api_.comm_size(comm_, &size_), "MPI_Comm_size");
    fail_out_.assign(kFailBytes, 0);
    fail_in_.assign(kFailBytes, 0);
    fail_requests_.resize(size_t(size_));
    statuses_.resize(size_t(status_bytes_) * 4);
  }

  int rank() const override { return rank_; }
  int size() const override { return size_; }

  void sum(double* data, int64_t n) override { sum_doubles(data, n, "a step's loss sums"); }
  // Beside the gradient buckets in flight: MPI orders collectives by when each rank starts
  // them, the same on every rank (see StatisticsReducer).
  void sum_statistics(double* data, int64_t n) override { sum_doubles(data, n, "a layer's batch statistics"); }

  void broadcast(real* data, int64_t n, int root) override {
    for (int64_t off = 0; off < n; off += kMaxCount) {
      H req{};
      check(api_.ibcast(data + off, int(std::min(kMaxCount, n - off)), float_, root, comm_, &req), "MPI_Ibcast");
      wait(&req, 1, "the broadcast of rank 0's weights");
    }
  }

  void begin_gradients(real* grad, int64_t n) override {
    if (n != planned_) {
      buckets_.plan(n, bucket_floats_);
      const size_t nb = size_t(buckets_.num_buckets());
      reduced_.assign(size_t(n), 0.0f);
      requests_.assign(nb, H{});
      done_.assign(nb, 0);
      launched_.assign(nb, 0);
      statuses_.resize(std::max<size_t>(nb, 4) * size_t(status_bytes_));
      planned_ = n;
    }
    buckets_.reset();
    std::fill(launched_.begin(), launched_.end(), 0);
    grad_ = grad;
    n_requests_ = 0;
  }

  void gradients_ready(int64_t offset, int64_t size) override {
    int64_t n_done = 0;
    buckets_.mark_ready(offset, size, done_.data(), &n_done);
    for (int64_t i = 0; i < n_done; ++i) launch(done_[size_t(i)]);
    // MPI progresses non-blocking collectives inside MPI calls: poke it between layers.
    if (n_requests_ > 0) {
      int flag = 0;
      api_.testall(int(n_requests_), requests_.data(), &flag, statuses_.data());
    }
  }

  real* finish_gradients() override {
    // Buckets backward never completed (weights no loss reaches) go now, in index order:
    // the same on every rank.
    for (int64_t b = 0; b < buckets_.num_buckets(); ++b)
      if (!launched_[size_t(b)]) launch(b);
    wait(requests_.data(), n_requests_, "the gradient all-reduce");
    return reduced_.data();
  }

  void report_failure(const std::string& message) override {
    const size_t len = std::min<size_t>(message.size(), kFailBytes - 1);
    std::fill(fail_out_.begin(), fail_out_.end(), 0);
    std::memcpy(fail_out_.data(), message.data(), len);
    for (int p = 0; p < size_; ++p)
      if (p != rank_) api_.isend(fail_out_.data(), kFailBytes, byte_, p, kFailTag, fail_comm_, &fail_requests_[size_t(p)]);
    if (broken_.empty()) broken_ = "rank " + std::to_string(rank_) + " failed: " + message;
  }

  void abort_job_after(double seconds) override {
    auto abort = api_.abort;
    H comm = comm_;
    std::thread([abort, comm, seconds] {
      std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
      abort(comm, 1);
    }).detach();
  }

 private:
  void check(int rc, const char* what) {
    if (rc != 0) throw DistributedError("pydl.distributed: " + std::string(what) + " failed with MPI error " + std::to_string(rc));
  }

  void launch(int64_t b) {
    const int64_t off = buckets_.bucket_offset(b);
    check(api_.iallreduce(grad_ + off, reduced_.data() + off, int(buckets_.bucket_size(b)), float_, sum_, comm_,
                          &requests_[size_t(n_requests_)]),
          "MPI_Iallreduce");
    ++n_requests_;
    launched_[size_t(b)] = 1;
  }

  void sum_doubles(double* data, int64_t n, const char* what) {
    if (n < 1) return;
    if (n > kMaxCount) throw ValueError("pydl.distributed: sum of more than 2**30 values");
    if (int64_t(sum_in_.size()) < n) sum_in_.resize(size_t(n));  // grows to a step's largest, once
    std::copy(data, data + n, sum_in_.begin());
    H req{};
    check(api_.iallreduce(sum_in_.data(), data, int(n), double_, sum_, comm_, &req), "MPI_Iallreduce");
    wait(&req, 1, what);
  }

  // Throws when another rank reported a failure.
  void check_failures() {
    for (int p = 0; p < size_; ++p) {
      if (p == rank_) continue;
      int flag = 0;
      api_.iprobe(p, kFailTag, fail_comm_, &flag, statuses_.data());
      if (!flag) continue;
      api_.recv(fail_in_.data(), kFailBytes, byte_, p, kFailTag, fail_comm_, statuses_.data());
      fail_in_.back() = 0;
      broken_ = "rank " + std::to_string(p) + " failed: " + std::string(fail_in_.data());
      throw DistributedError(broken_);
    }
  }

  // Polls until every request completes, a rank reports a failure, or the timeout passes.
  void wait(H* reqs, int64_t n, const char* what) {
    if (!broken_.empty()) throw DistributedError(broken_ + " (this job can no longer train)");
    using clock = std::chrono::steady_clock;
    const auto start = clock::now();
    for (int64_t polls = 0;; ++polls) {
      int flag = 0;
      check(api_.testall(int(n), reqs, &flag, statuses_.data()), "MPI_Testall");
      if (flag) return;
      if (polls % 64 != 63) continue;
      check_failures();
      const double waited = std::chrono::duration<double>(clock::now() - start).count();
      if (waited > timeout_s_) {
        broken_ = "rank " + std::to_string(rank_) + ": no answer from the other ranks for " +
                  std::to_string(int64_t(timeout_s_)) + " s in " + what +
                  " (a rank died or hangs; dist.init(timeout=) sets this limit)";
        throw DistributedError(broken_);
      }
      if (InterruptGuard::requested() && waited > 1.0) throw Interrupted();
      // Spin while an answer is likely soon (a step), then sleep. The spin yields: with more
      // ranks than free cores, the rank being waited for may need this core (a no-op when
      // nothing else is runnable).
      if (waited > 1e-3) std::this_thread::sleep_for(std::chrono::microseconds(waited > 0.1 ? 1000 : 50));
      else std::this_thread::yield();
    }
  }

  Api<H> api_;
  H comm_, fail_comm_, float_, double_, byte_, sum_;  // float_: the MPI type of real
  int status_bytes_;
  double timeout_s_;
  int64_t bucket_floats_;
  int rank_ = 0, size_ = 1;
  std::vector<double> sum_in_;
  BucketPlan buckets_;
  int64_t planned_ = -1;
  real* grad_ = nullptr;
  std::vector<real> reduced_;
  std::vector<H> requests_;
  int64_t n_requests_ = 0;
  std::vector<int64_t> done_;
  std::vector<uint8_t> launched_;
  std::vector<char> statuses_;
  std::vector<char> fail_out_, fail_in_;
  std::vector<H> fail_requests_;
  std::string broken_;  // set once the job is broken: every later wait throws at once
};

}  // namespace

std::shared_ptr<GradientReducer> make_mpi_reducer(const MpiHandles& h) {
  if (h.status_bytes < 1) throw ValueError("pydl.distributed: expected sizeof(MPI_Status) >= 1");
  if (!(h.timeout_s > 0)) throw ValueError("pydl.distributed: timeout must be > 0 seconds");
  if (h.bucket_floats < 1) throw ValueError("pydl.distributed: bucket size must be >= 1 float");
  // RTLD_NOLOAD: only a library already loaded (by mpi4py); dlsym searches its dependencies.
  void* lib = dlopen(h.library.c_str(), RTLD_NOW | RTLD_NOLOAD);
  if (!lib) throw ValueError("pydl.distributed: the MPI library is not loaded (" + h.library + "); import mpi4py.MPI first");
  if (h.handle_bytes == int(sizeof(int))) return std::make_shared<MpiReducer<int>>(lib, h);
  if (h.handle_bytes == int(sizeof(void*))) return std::make_shared<MpiReducer<void*>>(lib, h);
  throw ValueError("pydl.distributed: MPI handles of " + std::to_string(h.handle_bytes) +
                   " bytes: expected int (MPICH) or pointer (Open MPI) handles");
}

}  // namespace pydl
