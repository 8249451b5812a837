# pydl._cuda: the CUDA kernels (cuda/*.cu) and the device runtime, in their own extension
# module so that a CUDA-built pydl imports and runs on a machine without a GPU or driver.
# pydl._cuda talks to pydl._core only through the seam capsule (core/device.h): it never links
# pydl_core's objects, which would give it a second kernel registry of its own.
#
#   PYDL_CUDA=AUTO (default)  on when nvcc AND an NVIDIA driver are both found, so a machine
#                             with nvcc and no GPU keeps the fast CPU-only build
#   PYDL_CUDA=ON              required: fails when nvcc or cuBLAS is missing (CI, GPU machines)
#   PYDL_CUDA=OFF             never
#   PYDL_CUDA_ARCHITECTURES   default "90-real;90-virtual": sm_90 (H100/H200) machine code plus
#                             compute_90 PTX that newer chips JIT-compile at first load.
#                             sm_80 (A100) is not in the default: see the measurement below.
#   PYDL_CUDA_WERROR=ON       our code's warnings (host and device) are errors (.ci/cuda)
#
# Libraries: the CUDA runtime, cuBLAS and cuBLASLt of the nvidia-cuda-runtime / nvidia-cublas
# wheels (CUDA 13: site-packages/nvidia/cu13/lib), linked by full path to their versioned
# names, else the toolkit's. The RPATH finds the wheels' copies next to pydl in site-packages,
# so no LD_LIBRARY_PATH is needed.

set(PYDL_CUDA AUTO CACHE STRING "Build pydl._cuda: AUTO (when nvcc and an NVIDIA driver are found), ON, OFF")
set_property(CACHE PYDL_CUDA PROPERTY STRINGS AUTO ON OFF)
set_property(CACHE PYDL_CUDA PROPERTY TYPE STRING)  # an older build tree cached it as a BOOL option
# Measured here (nvcc 13.0, a 120-line kernel file of elementwise, block-reduction, tiled-GEMM,
# direct-convolution and optimizer kernels, nvcc CPU time, best of 3): 90-real;90-virtual 5.6 s,
# with 80-real added 7.9 s, +40% on every .cu file (each is compiled once more through
# cicc+ptxas). Not small, so sm_80 stays out of the default; an A100 user adds it:
# -DPYDL_CUDA_ARCHITECTURES="80-real;90-real;90-virtual".
set(PYDL_CUDA_ARCHITECTURES "90-real;90-virtual" CACHE STRING "CUDA architectures of pydl._cuda")
option(PYDL_CUDA_WERROR "Treat warnings in pydl's CUDA sources as errors" OFF)

string(TOUPPER "${PYDL_CUDA}" _pydl_cuda_mode)
if(_pydl_cuda_mode MATCHES "^(ON|YES|TRUE|Y|1)$")
  set(_pydl_cuda_mode ON)
elseif(_pydl_cuda_mode MATCHES "^(OFF|NO|FALSE|N|0|)$")
  set(_pydl_cuda_mode OFF)
elseif(NOT _pydl_cuda_mode STREQUAL "AUTO")
  message(FATAL_ERROR "PYDL_CUDA must be AUTO, ON or OFF, got '${PYDL_CUDA}'")
endif()

# An NVIDIA driver: the kernel module's version file, or the user-space driver libcuda.so.1 that
# the dynamic loader can find (a container given a GPU has the library without /proc entry).
function(_pydl_find_nvidia_driver out_found out_why)
  if(EXISTS /proc/driver/nvidia/version)
    set(${out_found} TRUE PARENT_SCOPE)
    return()
  endif()
  execute_process(COMMAND "${Python_EXECUTABLE}" -c "import ctypes; ctypes.CDLL('libcuda.so.1')"
                  RESULT_VARIABLE _rc OUTPUT_QUIET ERROR_QUIET)
  if(_rc EQUAL 0)
    set(${out_found} TRUE PARENT_SCOPE)
  else()
    set(${out_found} FALSE PARENT_SCOPE)
    set(${out_why} "no NVIDIA driver (no /proc/driver/nvidia/version, libcuda.so.1 not loadable)" PARENT_SCOPE)
  endif()
endfunction()

include(CheckLanguage)
if(_pydl_cuda_mode STREQUAL "AUTO")
  _pydl_find_nvidia_driver(_pydl_driver _pydl_why)
  if(_pydl_driver)
    check_language(CUDA)
    if(CMAKE_CUDA_COMPILER)
      set(_pydl_cuda_mode ON)
    else()
      set(_pydl_why "no CUDA compiler (nvcc not on PATH, CUDACXX unset)")
    endif()
  endif()
  if(NOT _pydl_cuda_mode STREQUAL "ON")
    message(STATUS "pydl: CUDA off (PYDL_CUDA=AUTO: ${_pydl_why}); -DPYDL_CUDA=ON builds pydl._cuda anyway")
    set(_pydl_cuda_mode OFF)
  endif()
elseif(_pydl_cuda_mode STREQUAL "ON")
  check_language(CUDA)
  if(NOT CMAKE_CUDA_COMPILER)
    message(FATAL_ERROR "PYDL_CUDA=ON but no CUDA compiler was found: put nvcc (CUDA 13) on PATH or set "
                        "CUDACXX=/path/to/nvcc, or configure with -DPYDL_CUDA=OFF (or AUTO)")
  endif()
else()
  message(STATUS "pydl: CUDA off (PYDL_CUDA=OFF)")
endif()
set(PYDL_CUDA_ENABLED ${_pydl_cuda_mode})
if(NOT PYDL_CUDA_ENABLED)
  return()
endif()

# Set before enable_language, which would otherwise pick the compiler's default architecture.
set(CMAKE_CUDA_ARCHITECTURES ${PYDL_CUDA_ARCHITECTURES})
set(CMAKE_CUDA_STANDARD 17)
set(CMAKE_CUDA_STANDARD_REQUIRED ON)
# The runtime is linked explicitly below (the wheel's libcudart.so.13), not CMake's static default.
set(CMAKE_CUDA_RUNTIME_LIBRARY None)
set(CMAKE_CUDA_FLAGS_RELEASE "-O3")
if(CCACHE_PROGRAM)
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
enable_language(CUDA)
if(CMAKE_CUDA_COMPILER_VERSION VERSION_LESS 13.0)
  message(FATAL_ERROR "pydl._cuda needs CUDA 13 (the nvidia-* cu13 wheels it loads at run time); "
                      "${CMAKE_CUDA_COMPILER} is CUDA ${CMAKE_CUDA_COMPILER_VERSION}")
endif()
find_package(CUDAToolkit REQUIRED)

# The CUDA 13 wheels' directory (site-packages/nvidia/cu13), if installed for this Python.
execute_process(
  COMMAND "${Python_EXECUTABLE}" -c
    "import os\ntry:\n    import nvidia\nexcept ImportError:\n    raise SystemExit(0)\nfor p in nvidia.__path__:\n    d = os.path.join(p, 'cu13')\n    if os.path.isdir(os.path.join(d, 'lib')):\n        print(d)\n        break"
  OUTPUT_VARIABLE PYDL_NVIDIA_WHEEL_DIR OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)

# Each library by full path: the wheel's versioned file (the wheels ship no unversioned .so),
# else the toolkit's.
set(PYDL_CUDA_LIBRARIES)
foreach(_lib cudart cublas cublasLt)
  set(_path "")
  if(PYDL_NVIDIA_WHEEL_DIR AND EXISTS "${PYDL_NVIDIA_WHEEL_DIR}/lib/lib${_lib}.so.13")
    set(_path "${PYDL_NVIDIA_WHEEL_DIR}/lib/lib${_lib}.so.13")
  else()
    find_library(PYDL_${_lib}_LIBRARY NAMES ${_lib} HINTS ${CUDAToolkit_LIBRARY_DIR} NO_DEFAULT_PATH)
    set(_path "${PYDL_${_lib}_LIBRARY}")
  endif()
  if(NOT _path)
    message(FATAL_ERROR "pydl._cuda: lib${_lib} not found in the nvidia-* CUDA 13 wheels or in ${CUDAToolkit_LIBRARY_DIR}: "
                        "pip install nvidia-cublas nvidia-cuda-runtime (or configure with -DPYDL_CUDA=OFF)")
  endif()
  list(APPEND PYDL_CUDA_LIBRARIES "${_path}")
endforeach()

# cuBLAS headers: the toolkit's, else the wheel's. Only cublas*.h is taken from the wheel (through
# a directory of links) so that the CUDA runtime headers stay those of the compiler's toolkit.
set(PYDL_CUBLAS_INCLUDE "")
find_path(PYDL_TOOLKIT_CUBLAS_H cublas_v2.h HINTS ${CUDAToolkit_INCLUDE_DIRS} NO_DEFAULT_PATH)
if(NOT PYDL_TOOLKIT_CUBLAS_H)
  if(NOT (PYDL_NVIDIA_WHEEL_DIR AND EXISTS "${PYDL_NVIDIA_WHEEL_DIR}/include/cublas_v2.h"))
    message(FATAL_ERROR "pydl._cuda: cublas_v2.h not found in the toolkit or the nvidia-cublas wheel: pip install nvidia-cublas")
  endif()
  set(PYDL_CUBLAS_INCLUDE "${CMAKE_CURRENT_BINARY_DIR}/cublas-include")
  file(MAKE_DIRECTORY "${PYDL_CUBLAS_INCLUDE}")
  file(GLOB _cublas_headers "${PYDL_NVIDIA_WHEEL_DIR}/include/cublas*.h")
  foreach(_h ${_cublas_headers})
    get_filename_component(_name "${_h}" NAME)
    file(CREATE_LINK "${_h}" "${PYDL_CUBLAS_INCLUDE}/${_name}" SYMBOLIC)
  endforeach()
endif()

# Kernel files: every cuda/*.cu (none yet is fine: the module then registers no kernel).
file(GLOB PYDL_CUDA_KERNEL_SOURCES CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/cuda/*.cu)
pybind11_add_module(_cuda cuda/module.cc cuda/runtime.cc cuda/context.cc ${PYDL_CUDA_KERNEL_SOURCES})
target_include_directories(_cuda PRIVATE csrc cuda)
target_include_directories(_cuda SYSTEM PRIVATE ${CUDAToolkit_INCLUDE_DIRS} ${PYDL_CUBLAS_INCLUDE})
target_link_libraries(_cuda PRIVATE ${PYDL_CUDA_LIBRARIES})

set(_pydl_cuda_warn -Xcudafe=--display_error_number -Xcompiler=-Wall,-Wextra)
set(_pydl_cxx_warn ${PYDL_WARNINGS})
if(PYDL_CUDA_WERROR)
  list(APPEND _pydl_cuda_warn -Werror=all-warnings -Xcompiler=-Werror)
  list(APPEND _pydl_cxx_warn -Werror)
endif()
target_compile_options(_cuda PRIVATE $<$<COMPILE_LANGUAGE:CXX>:${_pydl_cxx_warn}>
                                     $<$<COMPILE_LANGUAGE:CUDA>:${_pydl_cuda_warn}>)

# $ORIGIN/../nvidia/cu13/lib: site-packages/pydl/_cuda.so next to site-packages/nvidia (the
# wheels); then, for builds used in place (build/dev copied into the source tree), the absolute
# wheel and toolkit directories of this build machine.
set(_pydl_rpath "\$ORIGIN/../nvidia/cu13/lib")
if(PYDL_NVIDIA_WHEEL_DIR)
  list(APPEND _pydl_rpath "${PYDL_NVIDIA_WHEEL_DIR}/lib")
endif()
list(APPEND _pydl_rpath "${CUDAToolkit_LIBRARY_DIR}")
set_target_properties(_cuda PROPERTIES
  CUDA_ARCHITECTURES "${PYDL_CUDA_ARCHITECTURES}"
  CUDA_RUNTIME_LIBRARY None
  BUILD_WITH_INSTALL_RPATH ON
  INSTALL_RPATH "${_pydl_rpath}")
install(TARGETS _cuda LIBRARY DESTINATION pydl)

string(REPLACE ";" " " _archs "${PYDL_CUDA_ARCHITECTURES}")
list(LENGTH PYDL_CUDA_KERNEL_SOURCES _n_cu)
message(STATUS "pydl: CUDA on: pydl._cuda for ${_archs} (nvcc ${CMAKE_CUDA_COMPILER_VERSION}, ${_n_cu} kernel files; "
               "libraries: ${PYDL_CUDA_LIBRARIES})")
