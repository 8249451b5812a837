// pydl._core: bindings only. Every function here forwards to the C++ core.
#include "bind/common.h"
#include "bind/kernel_call.h"
#include "core/checks.h"
#include "core/device.h"
#include "core/parallel.h"
#include "core/threads.h"
#include "nn/trainer.h"

namespace py = pybind11;

PYBIND11_MODULE(_core, m) {
  m.doc() = "pydl's compiled core (C++ kernels and the training engine)";

  py::register_exception<pydl::TypeError>(m, "CoreTypeError", PyExc_TypeError);
  py::register_exception_translator(pydl::bind::translate_core_exceptions);

  m.def("set_num_threads", &pydl::set_num_threads, py::arg("n"),
        "Set the number of threads used by every pydl kernel (OpenMP and BLAS together).");
  m.def("get_num_threads", &pydl::get_num_threads, "Number of threads pydl kernels use.");
  m.def("default_num_threads", &pydl::default_num_threads, "The machine's core count.");
  m.def("max_num_threads", &pydl::max_num_threads, "The most threads set_num_threads accepts (4x the cores).");

  m.def("split_regions", [] { return pydl::split_regions().load(); },
        "Parallel regions that ran on more than one thread so far (for tests of thread splits).");

  m.def("find_nonfinite",
        [](pydl::bind::Array<float> x) { return pydl::find_nonfinite(x.data(), x.size()); },
        py::arg("x"), "Flat index of the first NaN or Inf in x, or -1.");

  // The backend seam (core/device.h): pydl._cuda registers its runtime and kernels here.
  m.attr("_device_seam") = py::capsule(static_cast<const void*>(pydl::device_seam()), "pydl._core._device_seam");
  m.def("device_kernels", [] {
    std::vector<std::string> names;
    std::string all = pydl::registered_device_kernels();
    for (size_t start = 0; start < all.size();) {
      size_t end = all.find(',', start);
      if (end == std::string::npos) end = all.size();
      names.push_back(all.substr(start, end - start));
      start = end + 1;
    }
    return names;
  }, "Names of the kernel entries with a CUDA version registered (empty until pydl._cuda loads).");
  m.def("_set_kernel_device", [](const std::string& kind, int ordinal) {
    if (kind != "cpu" && kind != "cuda") throw pydl::ValueError("expected device 'cpu' or 'cuda', got '" + kind + "'");
    pydl::bind::set_kernel_device(kind == "cuda" ? pydl::Device::CUDA : pydl::Device::CPU, ordinal);
  }, py::arg("kind"), py::arg("ordinal") = 0,
     "Run the calling thread's pydl.kernels calls on this device (pydl.kernels.on_device).");
  m.def("_kernel_device", [] {
    return py::make_tuple(pydl::bind::kernel_device() == pydl::Device::CUDA ? "cuda" : "cpu",
                          pydl::bind::kernel_device_ordinal());
  }, "The (kind, ordinal) pydl.kernels calls of this thread run on.");
  m.def("device_runtime_loaded", [] { return pydl::device_runtime() != nullptr; },
        "Whether pydl._cuda registered its CUDA runtime with this core.");

  // FOR TESTS ONLY (core/device_emulation.cc): an emulated CUDA device over host memory, so
  // that the CPU-only suite exercises the engine's device plumbing. Not a public API.
  m.def("_emulate_cuda", [](bool on) { pydl::set_device_emulation(on); }, py::arg("on"),
        "Tests only: install (True) or remove (False) the emulated CUDA runtime (host memory, CPU kernels).");
  m.def("_emulated_cuda", [] { return pydl::device_emulated(); }, "Whether the test-only CUDA emulation is on.");
  m.def("_emulation_stats", [] {
    const pydl::EmulationStats s = pydl::device_emulation_stats();
    py::dict d;
    d["live_allocations"] = s.live_allocations;
    d["live_pinned"] = s.live_pinned;
    d["to_device_bytes"] = s.to_device_bytes;
    d["to_host_bytes"] = s.to_host_bytes;
    d["device_to_device_bytes"] = s.device_to_device_bytes;
    d["synchronizes"] = s.synchronizes;
    d["event_waits"] = s.event_waits;
    d["graph_captures"] = s.graph_captures;
    d["graph_launches"] = s.graph_launches;
    d["graph_aborts"] = s.graph_aborts;
    d["graph_calls"] = s.graph_calls;
    return d;
  }, "Tests only: what the emulated CUDA runtime allocated and copied so far.");
  m.def("_emulation_set_free_bytes", [](size_t bytes) { pydl::set_emulated_free_bytes(bytes); }, py::arg("bytes"),
        "Tests only: the free memory the emulated device reports (0: the default, 16 GiB).");
  m.def("_emulation_bump_scratch_generation", [] { pydl::bump_emulated_scratch_generation(); },
        "Tests only: as if the device's kernel scratch had moved (captured step graphs are stale).");
  m.def("_emulation_fail_capture_at", [](int64_t call) { pydl::fail_emulated_capture_at(call); }, py::arg("call"),
        "Tests only: the next emulated graph capture raises at its call number `call` (from 0).");
  m.def("_set_step_graphs", [](bool on) { pydl::set_step_graphs(on); }, py::arg("on"),
        "Whether fit captures a queued training step as a CUDA graph and replays it (default True, or "
        "False when the environment sets PYDL_CUDA_GRAPHS=0). Internal: for tests and benches.");
  m.def("_step_graphs", [] { return pydl::step_graphs(); }, "Whether fit's queued steps use CUDA graphs.");

  pydl::bind::bind_kernels(m);
  pydl::bind::bind_image_kernels(m);
  pydl::bind::bind_rnn_kernels(m);
  pydl::bind::bind_attention_kernels(m);
  pydl::bind::bind_sequence_kernels(m);
  pydl::bind::bind_data(m);
  pydl::bind::bind_nn(m);
  pydl::bind::bind_distributed(m);
}
