// pydl._cuda: bindings only (the contract pydl/cuda.py reads). At import it registers its
// DeviceRuntime (runtime.cc) and every PYDL_CUDA_KERNEL of the cuda/*.cu files with pydl._core,
// through the capsule pydl._core._device_seam (core/device.h): this module links none of
// _core's objects, so there is one kernel registry, _core's.
//
// Importing never needs a GPU: without a driver or a device the module still loads and
// registers (kernel_names() lists what this build has), driver_error() says why no device can
// be used and device_count() is 0.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <string>

#include "context.h"
#include "core/device.h"
#include "core/errors.h"
#include "registry.h"
#include "runtime.h"

namespace py = pybind11;

namespace {

int checked_ordinal(int ordinal) {
  const int n = pydl::cuda::device_count_or_zero();
  if (ordinal < 0 || ordinal >= n)
    throw py::value_error("expected a CUDA device ordinal in [0, " + std::to_string(n) + "), got " +
                          std::to_string(ordinal));
  return ordinal;
}

void register_with_core() {
  py::module_ core = py::module_::import("pydl._core");
  py::capsule capsule = core.attr("_device_seam");
  if (std::string(capsule.name() ? capsule.name() : "") != "pydl._core._device_seam")
    throw py::import_error("pydl._core._device_seam is not pydl's device seam capsule");
  const auto* seam = capsule.get_pointer<const pydl::DeviceSeam>();
  // Checked here, before any call through the table: a seam of other headers may lay its
  // functions out differently. ImportError, so that pydl.cuda reports it as the reason.
  if (!seam || seam->abi != pydl::kDeviceAbi)
    throw py::import_error("pydl._cuda was built for device ABI " + std::to_string(pydl::kDeviceAbi) +
                           " but this pydl._core has ABI " + std::to_string(seam ? seam->abi : -1) +
                           ": the two modules come from different pydl builds; reinstall pydl");
  seam->set_runtime(&pydl::cuda::runtime());
  for (const auto& [name, fn] : pydl::cuda::KernelRegistration::all()) seam->register_kernel(name, fn);
}

}  // namespace

PYBIND11_MODULE(_cuda, m) {
  m.doc() = "pydl's CUDA kernels and device runtime (loaded by pydl.cuda; registers with pydl._core)";

  py::register_local_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const pydl::MemoryError& e) {
      PyErr_SetString(PyExc_MemoryError, e.what());
    }
  });
  register_with_core();

  m.def("driver_error", &pydl::cuda::driver_error,
        "Why no CUDA device can be used here (no driver, an old driver, no GPU), or None.");
  m.def("device_count", &pydl::cuda::device_count_or_zero, "Number of CUDA devices (0 without a driver or a GPU).");
  m.def("device_name", [](int ordinal) {
    cudaDeviceProp prop{};
    pydl::cuda::check(cudaGetDeviceProperties(&prop, checked_ordinal(ordinal)), "cudaGetDeviceProperties");
    return std::string(prop.name);
  }, py::arg("ordinal"), "The device's name, e.g. 'NVIDIA H200'.");
  m.def("memory_info", [](int ordinal) {
    pydl::cuda::OrdinalScope scope(checked_ordinal(ordinal));
    size_t free_bytes = 0, total_bytes = 0;
    pydl::cuda::runtime().memory_info(&free_bytes, &total_bytes);
    return py::make_tuple(free_bytes, total_bytes);
  }, py::arg("ordinal"), "(free, total) bytes of the device's memory.");
  m.def("synchronize", [](int ordinal) {
    pydl::cuda::OrdinalScope scope(checked_ordinal(ordinal));
    py::gil_scoped_release release;
    pydl::cuda::runtime().synchronize();
  }, py::arg("ordinal"), "Waits for pydl's queued work on the device; raises the errors of its kernels.");
  m.def("runtime_version", [] {
    int v = 0;
    if (cudaRuntimeGetVersion(&v) != cudaSuccess) (void)cudaGetLastError();
    return v;
  }, "Version of the loaded CUDA runtime library, e.g. 13050 for 13.5.");
  m.def("driver_version", [] {
    int v = 0;
    if (cudaDriverGetVersion(&v) != cudaSuccess) (void)cudaGetLastError();
    return v;
  }, "Newest CUDA version the driver supports, e.g. 13000 (0 without a driver).");
}
