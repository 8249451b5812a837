// The MPI GradientReducer, without a build-time MPI dependency: mpi4py has loaded the MPI
// library and hands over its handles; the functions are found with dlsym in that library.
// Handle types differ between ABIs (int in MPICH and its derivatives, pointers in Open MPI):
// the shim calls through function types built for the handle width mpi4py reports, so each
// argument has the type the library was compiled with. Only the functions whose signatures
// hold no other ABI-specific constant are used (no MPI_IN_PLACE, MPI_STATUS_IGNORE or
// MPI_ANY_SOURCE: their values differ too).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "nn/gradient_reducer.h"

namespace pydl {

struct MpiHandles {
  std::string library;      // a loaded object that links libmpi (mpi4py's MPI extension module)
  int handle_bytes = 0;     // sizeof(MPI_Comm), equal to MPI_Datatype's, MPI_Op's, MPI_Request's
  int status_bytes = 0;     // sizeof(MPI_Status)
  int64_t comm = 0;         // collectives run here (a duplicate of the user's communicator)
  int64_t fail_comm = 0;    // failure messages travel here, apart from the collectives
  int64_t float_type = 0, double_type = 0, byte_type = 0, sum_op = 0;
  double timeout_s = 300;   // the longest a wait may last before DistributedError
  int64_t bucket_floats = 25 << 18;  // PyTorch DDP's bucket_cap_mb = 25 MiB of float32
};

std::shared_ptr<GradientReducer> make_mpi_reducer(const MpiHandles& h);

}  // namespace pydl
