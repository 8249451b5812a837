// The data pipeline: augmentation ops and the background ArrayLoader.
#include "bind/common.h"
#include "bind/kernel_call.h"
#include "core/buffer.h"
#include "core/interrupt.h"
#include "core/sizes.h"
#include "data/loader.h"
#include "kernels/augment.h"
#include "nn/trainer.h"

namespace pydl::bind {
namespace {

AugmentOp to_op(const py::dict& d) {
  AugmentOp op;
  const std::string kind = required_str(d, "kind", "augmentation op");
  if (kind == "flip") op.kind = AugmentOp::Flip;
  else if (kind == "rotate") op.kind = AugmentOp::Rotate;
  else if (kind == "crop") op.kind = AugmentOp::Crop;
  else if (kind == "zoom") op.kind = AugmentOp::Zoom;
  else if (kind == "brightness") op.kind = AugmentOp::Brightness;
  else if (kind == "contrast") op.kind = AugmentOp::Contrast;
  else if (kind == "resize") op.kind = AugmentOp::Resize;
  else if (kind == "center_crop") op.kind = AugmentOp::CenterCrop;
  else throw ValueError("unknown augmentation '" + kind + "'");
  auto get = [&](const char* k, auto& field) { read_field(d, k, field); };
  get("horizontal", op.horizontal);
  get("vertical", op.vertical);
  get("degrees", op.degrees);
  get("factor", op.factor);
  get("fill", op.fill);
  get("height", op.height);
  get("width", op.width);
  get("padding", op.padding);
  get("nearest", op.nearest);
  get("low", op.low);
  get("range_set", op.range_set);
  get("range_low", op.range_low);
  get("range_high", op.range_high);
  get("high", op.high);
  if (d.contains("seed") && !d["seed"].is_none()) {  // the transform's own seed= replaces the caller's
    op.seed_set = true;
    op.seed = d["seed"].cast<uint64_t>();
  }
  return op;
}

std::vector<AugmentOp> to_ops(const py::list& ops) {
  std::vector<AugmentOp> out;
  for (auto o : ops) out.push_back(to_op(o.cast<py::dict>()));
  return out;
}

std::vector<int64_t> sample_shape(const py::array& x) {
  return std::vector<int64_t>(x.shape() + 1, x.shape() + x.ndim());
}

// Owns the C++ loader and keeps the numpy data it reads alive.
struct PyLoader {
  py::array data;
  std::unique_ptr<ArrayLoader> loader;
};

using Keys = py::array_t<uint64_t, py::array::c_style | py::array::forcecast>;

// One augmentation op forward / backward (pydl.kernels level, for the kernels' tests): x is
// (N, H, W, C); keys (N,) name the samples (default: 0..N-1).
template <typename T>
void def_augment_kernels(py::module_& k) {
  k.def("augment_forward", [](Array<T> x, const py::dict& op_dict, uint64_t seed, uint64_t stream,
                              std::optional<Keys> keys) {
    require_rank(x, 4, "augment_forward x (N, H, W, C)");
    const AugmentOp op = to_op(op_dict);
    const std::vector<int64_t> shape = sample_shape(x), out_shape = augment_output_shape(op, shape);
    const int64_t n = x.shape(0);
    if (keys) require_size(*keys, n, "augment_forward keys (N,)");
    Array<T> y({n, out_shape[0], out_shape[1], out_shape[2]});
    KernelCall call;
    augment_forward<T>(call.out(y), call.in(x), n, shape, op, seed, stream, keys ? call.in(*keys) : nullptr);
    call.finish();
    return y;
  }, py::arg("x"), py::arg("op"), py::arg("seed"), py::arg("stream") = 0, py::arg("keys") = py::none());
  k.def("augment_backward", [](Array<T> dy, Array<T> x, const py::dict& op_dict, uint64_t seed, uint64_t stream,
                               std::optional<Keys> keys) {
    require_rank(x, 4, "augment_backward x (N, H, W, C)");
    const AugmentOp op = to_op(op_dict);
    const std::vector<int64_t> shape = sample_shape(x), out_shape = augment_output_shape(op, shape);
    const int64_t n = x.shape(0);
    require_size(dy, n * out_shape[0] * out_shape[1] * out_shape[2], "augment_backward dy (N, out_shape)");
    if (keys) require_size(*keys, n, "augment_backward keys (N,)");
    Array<T> dx(std::vector<py::ssize_t>(x.shape(), x.shape() + x.ndim()));
    KernelCall call;
    augment_backward<T>(call.out(dx), call.in(dy), call.in(x), n, shape, op, seed, stream,
                        keys ? call.in(*keys) : nullptr);
    call.finish();
    return dx;
  }, py::arg("dy"), py::arg("x"), py::arg("op"), py::arg("seed"), py::arg("stream") = 0, py::arg("keys") = py::none());
}

}  // namespace

void bind_data(py::module_& m) {
  {
    auto k = m.attr("kernels").cast<py::module_>();
    def_augment_kernels<float>(k);
    def_augment_kernels<double>(k);
  }
  m.def("augment", [](Array<float> x, const py::list& ops, uint64_t seed, std::optional<py::array_t<uint64_t>> keys) {
    if (x.ndim() != 4) throw ValueError("augment: expected images (N, H, W, C), got rank " + std::to_string(x.ndim()));
    const int64_t n = x.shape(0);
    if (keys && keys->size() != n) throw ValueError("augment: expected one key per image");
    AugmentPipeline p(to_ops(ops), sample_shape(x));
    std::vector<int64_t> out_shape{n};
    for (int64_t d : p.output_shape()) out_shape.push_back(d);
    checked_product(out_shape, "augment: the output batch");  // before numpy multiplies the strides
    Array<float> out(out_shape);
    std::vector<uint64_t> all_keys(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) all_keys[size_t(i)] = keys ? keys->data()[i] : uint64_t(i);
    KernelCall call;  // on the device pydl.kernels.on_device selected
    Buffer<float> scratch(p.scratch_size(n));  // where the call runs
    const float* in = call.in(x);
    float* dst = call.out(out);
    const auto* k = static_cast<const uint64_t*>(call.in_bytes(all_keys.data(), sizeof(uint64_t) * all_keys.size()));
    {
      py::gil_scoped_release release;
      p.apply(dst, in, n, seed, k, scratch.data());
    }
    call.finish();
    return out;
  }, py::arg("x"), py::arg("ops"), py::arg("seed"), py::arg("keys") = py::none(),
     "Apply augmentation ops (dicts) to float32 images; sample i's randomness is keyed by keys[i].");

  py::class_<PyLoader>(m, "ArrayLoader", "Batches of an array data set made on a background thread.")
      .def(py::init([](py::array x, int64_t batch_size, bool shuffle, bool drop_last, uint64_t seed, int prefetch,
                       const py::list& ops) {
             auto p = std::make_unique<PyLoader>();  // freed if a check below throws
             const bool u8 = py::isinstance<py::array_t<uint8_t>>(x) && x.dtype().is(py::dtype::of<uint8_t>());
             if (u8) p->data = py::array_t<uint8_t, py::array::c_style | py::array::forcecast>(x);
             else p->data = Array<float>(x);
             if (p->data.ndim() < 1) throw ValueError("DataLoader: x needs a sample axis");
             p->loader = std::make_unique<ArrayLoader>(p->data.data(), u8, sample_shape(p->data), p->data.shape(0),
                                                       batch_size, shuffle, drop_last, seed, prefetch, to_ops(ops));
             return p.release();
           }),
           py::arg("x"), py::arg("batch_size"), py::arg("shuffle"), py::arg("drop_last"), py::arg("seed"),
           py::arg("prefetch"), py::arg("ops"))
      .def_property_readonly("output_shape", [](const PyLoader& p) { return p.loader->output_shape(); })
      .def_property_readonly("batches_per_epoch", [](const PyLoader& p) { return p.loader->batches_per_epoch(); })
      .def("start_epoch", [](PyLoader& p, uint64_t epoch) { p.loader->start_epoch(epoch); }, py::arg("epoch"))
      .def("next", [](PyLoader& p) -> py::object {
        const LoaderBatch* b;
        {
          py::gil_scoped_release release;
          b = p.loader->next();
        }
        if (!b) return py::none();
        std::vector<int64_t> shape{b->rows};
        for (int64_t d : p.loader->output_shape()) shape.push_back(d);
        Array<float> x(shape);
        std::copy(b->x.data(), b->x.data() + x.size(), x.mutable_data());
        py::array_t<int64_t> idx({b->rows});
        std::copy(b->indices.data(), b->indices.data() + b->rows, idx.mutable_data());
        return py::make_tuple(x, idx);
      }, "(x, indices) of the next batch (copies), or None at the end of the epoch.")
      .def("stop", [](PyLoader& p) { p.loader->stop(); });
}

void bind_trainer_data(py::class_<Trainer>& cls) {
  cls.def("fit_epoch_loader",
          [](Trainer& t, PyLoader& loader, const py::object& labels, const py::object& targets, uint64_t seed,
             uint64_t epoch, std::optional<py::function> progress, int64_t every, bool check_interrupt,
             const py::object& sample_weight) {
            DataHolder h = make_data(t, py::none(), labels, targets, sample_weight, "fit", false);
            if (h.ref.n != loader.loader->size()) throw ValueError("fit: the loader and the targets differ in length");
            return run_epoch(progress, check_interrupt, [&](const ProgressFn& fn) {
              return t.fit_epoch_loader(*loader.loader, h.ref, seed, epoch, fn, every, check_interrupt);
            });
          },
          py::arg("loader"), py::arg("labels"), py::arg("targets"), py::arg("seed"), py::arg("epoch"),
          py::arg("progress") = py::none(), py::arg("every") = 0, py::arg("check_interrupt") = false,
          py::arg("sample_weight") = py::none())
      .def("begin_epoch", &Trainer::begin_epoch)
      .def("train_batch",
           [](Trainer& t, const py::object& x, const py::object& labels, const py::object& targets, uint64_t seed,
              const py::object& sample_weight) {
             DataHolder h = make_data(t, x, labels, targets, sample_weight, "fit");
             py::gil_scoped_release release;
             return t.train_batch(h.ref, seed);
           },
           py::arg("x"), py::arg("labels"), py::arg("targets"), py::arg("seed"), py::arg("sample_weight") = py::none(),
           "One optimizer step on one batch; False (and no update) when the loss or the update is not finite.")
      .def("end_epoch", [](Trainer& t) { return stats_dict(t.end_epoch()); });
}

}  // namespace pydl::bind
