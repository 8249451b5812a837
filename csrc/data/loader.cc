#include "data/loader.h"

#include <omp.h>

#include <algorithm>

#include "core/errors.h"
#include "core/rng.h"
#include "core/sizes.h"

namespace pydl {

ArrayLoader::ArrayLoader(const void* x, bool x_is_uint8, std::vector<int64_t> sample_shape, int64_t n,
                         int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed, int prefetch,
                         std::vector<AugmentOp> ops)
    : x_(x), u8_(x_is_uint8), in_shape_(std::move(sample_shape)), n_(n), batch_(batch_size), shuffle_(shuffle),
      drop_last_(drop_last), seed_(seed) {
  if (n < 1) throw ValueError("DataLoader: the data set is empty");
  if (batch_size < 1) throw ValueError("DataLoader: batch_size must be >= 1, got " + std::to_string(batch_size));
  if (prefetch < 1 || prefetch > kMaxPrefetch)
    throw ValueError("DataLoader: prefetch must be in [1, " + std::to_string(kMaxPrefetch) + "], got " +
                     std::to_string(prefetch));
  if (drop_last && n < batch_size)
    throw ValueError("DataLoader: drop_last=True with batch_size " + std::to_string(batch_size) + " and only " +
                     std::to_string(n) + " samples leaves no batch; lower batch_size or set drop_last=False");
  in_size_ = checked_product(in_shape_, "DataLoader samples");
  out_shape_ = in_shape_;
  if (!ops.empty()) {
    pipeline_ = AugmentPipeline(std::move(ops), in_shape_);
    out_shape_ = pipeline_.output_shape();
  }
  out_size_ = checked_product(out_shape_, "DataLoader samples after the transform");
  // Buffers hold at most the whole data set: batch_size=2**62 on 20 samples plans 20 rows.
  rows_cap_ = std::min(batch_, n_);
  const std::string owner = "DataLoader batch of " + std::to_string(rows_cap_);
  slots_.resize(prefetch);
  state_.assign(prefetch, 0);
  for (auto& s : slots_) {  // room for an unaugmented batch too (a crop shrinks the samples)
    s.x.resize(checked_mul(rows_cap_, std::max(out_size_, pipeline_.empty() ? 0 : in_size_), owner));
    s.indices.resize(rows_cap_);
    if (!pipeline_.empty()) s.keys.resize(rows_cap_);
  }
  order_.resize(n_);
  keys_.resize(rows_cap_);
  if (u8_ || !pipeline_.empty()) gathered_.resize(checked_mul(rows_cap_, in_size_, owner));
  if (!pipeline_.empty()) scratch_.resize(pipeline_.scratch_size(rows_cap_));
}

ArrayLoader::~ArrayLoader() { stop(); }

int64_t ArrayLoader::batches_per_epoch() const {
  return drop_last_ ? n_ / batch_ : (n_ + batch_ - 1) / batch_;
}

void ArrayLoader::stop() {
  std::lock_guard<std::mutex> control(control_);
  stop_locked();
}

void ArrayLoader::stop_locked() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    epoch_active_ = false;
  }
  cv_.notify_all();
  if (worker_.joinable()) worker_.join();
}

void ArrayLoader::start_epoch(uint64_t epoch, bool raw) {
  std::lock_guard<std::mutex> control(control_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (epoch_active_ && consumer_ != std::this_thread::get_id())
      throw Busy("DataLoader: another thread is iterating this loader; give each thread a loader of its own");
  }
  stop_locked();
  int64_t* order = order_.data();
  for (int64_t i = 0; i < n_; ++i) order[i] = i;
  if (shuffle_) {  // the same Fisher-Yates as the Trainer's array path
    CounterRng rng(seed_, 0x5f0ff1e000ULL + epoch);
    for (int64_t i = n_ - 1; i > 0; --i) std::swap(order[i], order[rng.below(uint64_t(i), uint64_t(i + 1))]);
  }
  std::fill(state_.begin(), state_.end(), 0);
  produced_ = consumed_ = 0;
  total_ = batches_per_epoch();
  stopping_ = false;
  error_ = nullptr;
  epoch_active_ = true;
  raw_ = raw && !pipeline_.empty();
  consumer_ = std::this_thread::get_id();
  worker_ = std::thread([this, epoch] { produce(epoch); });
}

void ArrayLoader::fill(LoaderBatch& b, const int64_t* order, int64_t start, int64_t rows, uint64_t epoch) {
  b.rows = rows;
  std::copy(order + start, order + start + rows, b.indices.data());
  float* dst = pipeline_.empty() || raw_ ? b.x.data() : gathered_.data();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t i = order[start + r];
    if (u8_) {
      const uint8_t* src = static_cast<const uint8_t*>(x_) + i * in_size_;
      for (int64_t k = 0; k < in_size_; ++k) dst[r * in_size_ + k] = float(src[k]);
    } else {
      const float* src = static_cast<const float*>(x_) + i * in_size_;
      std::copy(src, src + in_size_, dst + r * in_size_);
    }
  }
  if (!pipeline_.empty()) {
    // A sample's random draws are keyed by (epoch, position in the epoch).
    uint64_t* keys = raw_ ? b.keys.data() : keys_.data();
    for (int64_t r = 0; r < rows; ++r) keys[r] = (epoch << 32) + uint64_t(start + r);
    if (!raw_) pipeline_.apply(b.x.data(), dst, rows, seed_, keys, scratch_.data());
  }
}

void ArrayLoader::produce(uint64_t epoch) {
  // One thread: the cores belong to training; augmentation overlaps with it.
  omp_set_num_threads(1);
  try {
    const int64_t slots = int64_t(slots_.size());
    for (int64_t b = 0; b < total_; ++b) {
      const int64_t s = b % slots;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || state_[s] == 0; });
        if (stopping_) return;
      }
      const int64_t start = b * batch_;
      fill(slots_[s], order_.data(), start, std::min(batch_, n_ - start), epoch);
      {
        std::lock_guard<std::mutex> lock(mu_);
        state_[s] = 1;
        ++produced_;
      }
      cv_.notify_all();
    }
  } catch (...) {
    std::lock_guard<std::mutex> lock(mu_);
    error_ = std::current_exception();
    cv_.notify_all();
  }
}

const LoaderBatch* ArrayLoader::next() {
  const int64_t slots = int64_t(slots_.size());
  std::unique_lock<std::mutex> lock(mu_);
  if (!epoch_active_) return nullptr;
  if (consumer_ != std::this_thread::get_id())
    throw Busy("DataLoader: another thread is iterating this loader; give each thread a loader of its own");
  if (consumed_ > 0) state_[(consumed_ - 1) % slots] = 0;  // the previous batch is done with
  cv_.notify_all();
  if (consumed_ >= total_) {
    epoch_active_ = false;  // done: another thread may start the next epoch
    return nullptr;
  }
  const int64_t s = consumed_ % slots;
  cv_.wait(lock, [&] { return state_[s] == 1 || error_ || stopping_; });
  if (error_) std::rethrow_exception(error_);
  if (stopping_ && state_[s] != 1) return nullptr;
  state_[s] = 2;
  ++consumed_;
  return &slots_[s];
}

}  // namespace pydl
