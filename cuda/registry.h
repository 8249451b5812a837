// How a cuda/<op>.cu file registers its kernels with pydl._core's seam (core/device.h).
//
//   PYDL_CUDA_KERNEL(dense_forward, dense_forward_cuda);
//
// at file scope registers dense_forward_cuda as the CUDA version of the kernel entry
// pydl::dense_forward<float>; the static_cast fails to compile unless its signature is the
// entry's exactly. PYDL_CUDA_KERNEL_PLAIN does the same for an entry that is not a template.
// pydl._cuda hands every registration to _core when it is imported (cuda/module.cc).
#pragma once
#include <utility>
#include <vector>

namespace pydl::cuda {

struct KernelRegistration {
  KernelRegistration(const char* name, void* fn) { all().emplace_back(name, fn); }
  static std::vector<std::pair<const char*, void*>>& all() {
    static std::vector<std::pair<const char*, void*>> list;
    return list;
  }
};

}  // namespace pydl::cuda

#define PYDL_CUDA_KERNEL(name, fn)                                        \
  static const ::pydl::cuda::KernelRegistration pydl_cuda_registration_##name( \
      #name, reinterpret_cast<void*>(static_cast<decltype(&::pydl::name<float>)>(&fn)))

#define PYDL_CUDA_KERNEL_PLAIN(name, fn)                                  \
  static const ::pydl::cuda::KernelRegistration pydl_cuda_registration_##name( \
      #name, reinterpret_cast<void*>(static_cast<decltype(&::pydl::name)>(&fn)))
