// ArrayLoader: batches of an in-memory data set made on a background thread (gather in
// shuffled order, uint8 -> float32, augmentation) while the previous batch trains. The
// batches of an epoch depend on (seed, epoch) alone, never on the prefetch depth or timing.
// One consumer at a time: the thread that starts an epoch owns it until it ends or stops;
// another thread starting or reading that epoch gets Busy (RuntimeError) instead of a race.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <thread>
#include <vector>

#include "core/buffer.h"
#include "kernels/augment.h"

namespace pydl {

struct LoaderBatch {
  Buffer<float> x;          // (rows, output sample size); raw epochs: (rows, input sample size)
  Buffer<int64_t> indices;  // which samples, in the data set's numbering
  Buffer<uint64_t> keys;    // raw epochs: the augmentation keys of the rows
  int64_t rows = 0;
};

class ArrayLoader {
 public:
  // x: n samples of sample_shape, uint8 or float32 (caller keeps it alive).
  ArrayLoader(const void* x, bool x_is_uint8, std::vector<int64_t> sample_shape, int64_t n, int64_t batch_size,
              bool shuffle, bool drop_last, uint64_t seed, int prefetch, std::vector<AugmentOp> ops);
  ~ArrayLoader();
  ArrayLoader(const ArrayLoader&) = delete;
  ArrayLoader& operator=(const ArrayLoader&) = delete;

  int64_t size() const { return n_; }
  int64_t batches_per_epoch() const;
  const std::vector<int64_t>& output_shape() const { return out_shape_; }

  // Starts producing the batches of `epoch` (stopping any epoch in progress). raw: the
  // batches are left unaugmented, each with its rows' keys, for the consumer to run
  // pipeline() on them (on a device) with seed(): the same batches as augmented here.
  void start_epoch(uint64_t epoch, bool raw = false);
  const AugmentPipeline& pipeline() const { return pipeline_; }
  uint64_t seed() const { return seed_; }
  int64_t input_sample_size() const { return in_size_; }
  // The next batch of the epoch (blocks until made), or nullptr after the last one.
  // The batch stays valid until the next call.
  const LoaderBatch* next();
  // Stops the producer; safe to call at any time.
  void stop();

  // Largest prefetch depth: more slots than this only cost memory.
  static constexpr int kMaxPrefetch = 64;

 private:
  void produce(uint64_t epoch);
  void stop_locked();  // with control_ held
  void fill(LoaderBatch& b, const int64_t* order, int64_t start, int64_t rows, uint64_t epoch);

  const void* x_;
  bool u8_;
  std::vector<int64_t> in_shape_, out_shape_;
  int64_t n_, in_size_, out_size_, batch_;
  int64_t rows_cap_;  // rows a batch buffer holds: min(batch_size, n)
  bool shuffle_, drop_last_;
  uint64_t seed_;
  AugmentPipeline pipeline_;
  bool raw_ = false;  // this epoch's batches are left unaugmented

  std::vector<LoaderBatch> slots_;
  std::vector<int> state_;  // per slot: 0 free, 1 ready, 2 held by the consumer
  Buffer<int64_t> order_;
  Buffer<float> gathered_, scratch_;
  Buffer<uint64_t> keys_;
  int64_t produced_ = 0, consumed_ = 0, total_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
  bool epoch_active_ = false;
  std::thread::id consumer_;
  std::mutex control_;  // start_epoch / stop: one at a time (join is not re-entrant)
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread worker_;
};

}  // namespace pydl
