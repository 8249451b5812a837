// pydl.distributed's core: the MPI GradientReducer and attaching it to a Trainer.
#include "bind/common.h"
#include "nn/gradient_reducer.h"
#include "nn/mpi_reducer.h"

namespace pydl::bind {

void bind_distributed(py::module_& m) {
  py::register_exception<DistributedError>(m, "DistributedError", PyExc_RuntimeError);

  py::class_<GradientReducer, std::shared_ptr<GradientReducer>>(
      m, "GradientReducer", "Sums gradients and small control values over the ranks of a data-parallel job.")
      .def_property_readonly("rank", &GradientReducer::rank)
      .def_property_readonly("size", &GradientReducer::size)
      .def("sum",
           [](GradientReducer& r, py::array_t<double, py::array::c_style> a) {
             if (!a.writeable()) throw ValueError("sum: expected a writeable float64 array");
             double* p = a.mutable_data();
             const int64_t n = int64_t(a.size());
             py::gil_scoped_release release;
             r.sum(p, n);
           },
           py::arg("values"), "Sums a C-contiguous float64 array over ranks, in place.")
      .def("broadcast",
           [](GradientReducer& r, py::array_t<float, py::array::c_style> a, int root) {
             if (!a.writeable()) throw ValueError("broadcast: expected a writeable float32 array");
             if (root < 0 || root >= r.size())
               throw ValueError("broadcast: root must be a rank in [0, " + std::to_string(r.size()) + ")");
             float* p = a.mutable_data();
             const int64_t n = int64_t(a.size());
             py::gil_scoped_release release;
             r.broadcast(p, n, root);
           },
           py::arg("values"), py::arg("root") = 0, "Copies root's C-contiguous float32 array to every rank, in place.")
      .def("report_failure", &GradientReducer::report_failure, py::arg("message"),
           "Tell the other ranks this one failed (their next wait raises DistributedError).")
      .def("abort_job_after", &GradientReducer::abort_job_after, py::arg("seconds"),
           "End the whole job with status 1 after `seconds` unless this process exited first.");

  m.def("make_mpi_reducer",
        [](const std::string& library, int handle_bytes, int status_bytes, int64_t comm, int64_t fail_comm,
           int64_t float_type, int64_t double_type, int64_t byte_type, int64_t sum_op, double timeout_s,
           int64_t bucket_floats) {
          return make_mpi_reducer(MpiHandles{library, handle_bytes, status_bytes, comm, fail_comm, float_type,
                                             double_type, byte_type, sum_op, timeout_s, bucket_floats});
        },
        py::arg("library"), py::arg("handle_bytes"), py::arg("status_bytes"), py::arg("comm"), py::arg("fail_comm"),
        py::arg("float_type"), py::arg("double_type"), py::arg("byte_type"), py::arg("sum_op"),
        py::arg("timeout_s"), py::arg("bucket_floats"),
        "An MPI GradientReducer over the handles of mpi4py objects (see pydl.distributed).");

  m.def("set_reducer",
        [](Trainer& t, std::shared_ptr<GradientReducer> r) { t.set_reducer(std::move(r)); },
        py::arg("trainer"), py::arg("reducer").none(true),
        "Train data-parallel over `reducer` (None: one process).");

  m.def("broadcast_training_state",
        [](Trainer& t, GradientReducer& r) {
          Graph& g = t.graph();
          // MPI broadcasts host memory: a model on a device is refused (as set_reducer does).
          if (g.device() != Device::CPU)
            throw ValueError("data-parallel training (pydl.distributed) runs on the CPU only in this version of pydl");
          py::gil_scoped_release release;
          r.broadcast(g.param_data(), g.num_params(), 0);
          r.broadcast(g.state_data(), g.num_state(), 0);
          for (int k = 0; k < t.slots(); ++k) r.broadcast(t.slot_data(k), g.num_params(), 0);
        },
        py::arg("trainer"), py::arg("reducer"),
        "Rank 0's weights, state (running statistics) and optimizer moments to every rank.");
}

}  // namespace pydl::bind
