// Graph and Trainer: the compiled network and the training engine.
#include "bind/common.h"
#include "core/interrupt.h"
#include "nn/graph.h"
#include "nn/trainer.h"

namespace pydl::bind {
namespace {

LayerConfig to_layer_config(const py::dict& d) {
  LayerConfig c;
  for (auto item : d) {
    const std::string key = py::str(item.first);
    py::handle v = item.second;
    try {
    if (key == "type") c.type = py::str(v);
    else if (key == "name") c.name = py::str(v);
    else if (key == "units") c.units = v.cast<int64_t>();
    else if (key == "activation") c.activation = v.is_none() ? "linear" : std::string(py::str(v));
    else if (key == "use_bias") c.use_bias = v.cast<bool>();
    else if (key == "rate") c.rate = v.cast<double>();
    else if (key == "kernel_size" || key == "pool_size") c.kernel_size = v.cast<std::vector<int64_t>>();
    else if (key == "strides") c.strides = v.is_none() ? std::vector<int64_t>{} : v.cast<std::vector<int64_t>>();
    else if (key == "dilation_rate") c.dilation = v.cast<std::vector<int64_t>>();
    else if (key == "padding") {
      if (py::isinstance<py::str>(v)) c.padding = py::str(v);
      else { c.padding = "explicit"; c.pad = v.cast<std::vector<int64_t>>(); }
    }
    else if (key == "target_shape") c.target_shape = v.cast<std::vector<int64_t>>();
    else if (key == "momentum") c.momentum = v.cast<double>();
    else if (key == "epsilon") c.epsilon = v.cast<double>();
    else if (key == "input_dim") c.input_dim = v.cast<int64_t>();
    else if (key == "output_dim") c.units = v.cast<int64_t>();
    else if (key == "mask_zero") c.mask_zero = v.cast<bool>();
    else if (key == "return_sequences") c.return_sequences = v.cast<bool>();
    else if (key == "cell") c.cell = py::str(v);
    else if (key == "merge_mode") c.merge_mode = py::str(v);
    else if (key == "per") c.per = py::str(v);
    // Other keys (e.g. Python-only settings) are not the core's concern.
    } catch (const py::cast_error&) {  // e.g. an int beyond int64, or a string for a size
      throw ValueError("layer '" + c.name + "': config key '" + key + "' has an unusable value " +
                       std::string(py::repr(v)));
    }
  }
  return c;
}

OptimizerConfig to_optimizer_config(const py::dict& d) {
  OptimizerConfig c;
  c.kind = parse_optimizer(d["kind"].cast<std::string>());
  auto num = [&](const char* k, double& field) { read_field(d, k, field); };
  num("learning_rate", c.learning_rate);
  num("momentum", c.momentum);
  num("weight_decay", c.weight_decay);
  num("beta_1", c.beta_1);
  num("beta_2", c.beta_2);
  num("epsilon", c.epsilon);
  num("clipnorm", c.clipnorm);
  if (d.contains("nesterov")) c.nesterov = d["nesterov"].cast<bool>();
  return c;
}

// Checks x is (n, *input_shape) and returns n.
int64_t check_x(const Graph& g, const Array<float>& x, const char* what) {
  const Shape& s = g.input_shape();
  bool ok = x.ndim() == py::ssize_t(s.size() + 1);
  for (size_t i = 0; ok && i < s.size(); ++i) ok = x.shape(py::ssize_t(i + 1)) == s[i];
  if (!ok) {
    std::string got = "(";
    for (py::ssize_t i = 0; i < x.ndim(); ++i) got += (i ? ", " : "") + std::to_string(x.shape(i));
    if (x.ndim() == 1) got += ",";
    throw ValueError(std::string(what) + ": expected input of shape " + shape_str(s) + ", got " + got + ")");
  }
  return x.shape(0);
}

DataRef make_data(const Graph& g, const Array<float>& x, const std::optional<Array<int32_t>>& labels,
                  const std::optional<Array<float>>& targets, const char* what) {
  DataRef d;
  d.n = check_x(g, x, what);
  d.x = x.data();
  if (labels) {
    if (labels->size() != d.n) throw ValueError(std::string(what) + ": expected one label per sample");
    d.labels = labels->data();
  }
  if (targets) {
    if (targets->size() != d.n * g.output_size())
      throw ValueError(std::string(what) + ": expected targets of shape " + shape_str(g.output_shape()));
    d.targets = targets->data();
  }
  return d;
}

}  // namespace

py::dict run_epoch(std::optional<py::function>& progress, bool check_interrupt,
                   const std::function<EpochStats(const ProgressFn&)>& epoch) {
  ProgressFn fn;
  if (progress) {
    fn = [&progress](int64_t done, double loss) {
      py::gil_scoped_acquire acquire;
      (*progress)(done, loss);
    };
  }
  EpochStats s;
  {
    py::gil_scoped_release release;
    InterruptGuard guard(check_interrupt);
    s = epoch(fn);
  }
  // A SIGINT that landed after the epoch's last check, while our handler was still installed,
  // is reported here rather than lost (the next guard would reset the flag).
  if (check_interrupt && InterruptGuard::requested()) s.interrupted = true;
  return stats_dict(s);
}

py::dict stats_dict(const EpochStats& s) {
  py::dict d;
  d["loss"] = s.mean_loss();
  d["samples"] = s.samples;
  d["batches"] = s.batches;
  d["correct"] = s.accuracy.correct;
  d["counted"] = s.accuracy.total;
  d["interrupted"] = s.interrupted;
  d["nonfinite_batch"] = s.nonfinite_batch;
  d["nonfinite_update"] = s.nonfinite_update;
  const MetricSums& m = s.metrics;
  d["confusion"] = m.confusion;
  d["top_k_correct"] = m.top_k_correct;
  d["top_k_total"] = m.top_k_total;
  d["sq_err"] = m.sq_err;
  d["abs_err"] = m.abs_err;
  d["sum_t"] = m.sum_t;
  d["sum_t2"] = m.sum_t2;
  d["count"] = m.count;
  d["nll"] = m.nll;
  d["nll_count"] = m.nll_count;
  return d;
}

namespace {

py::array_t<float> view_of(float* data, int64_t n, py::handle owner) {
  return py::array_t<float>({n}, {sizeof(float)}, data, owner);
}

// `with graph.use("fit", exclusive=True):` holds the graph's gate for a whole Python-level
// call (fit with its callbacks), so another thread's fit or predict raises instead of racing.
struct GateUse {
  Graph* graph;
  std::string what;
  bool exclusive;
  bool held = false;
};

MetricSpec to_metric_spec(const py::dict& d) {
  MetricSpec m;
  read_field(d, "confusion", m.confusion);
  read_field(d, "top_k", m.top_k);
  read_field(d, "regression", m.regression);
  read_field(d, "log_loss", m.log_loss);
  return m;
}

}  // namespace

void bind_nn(py::module_& m) {
  py::class_<GateUse>(m, "GraphUse", "Holds a Graph's use gate while inside a with block.")
      .def("__enter__", [](GateUse& u) {
        if (u.held) throw ValueError("GraphUse: already entered");
        if (u.exclusive) u.graph->gate().enter_exclusive(u.what.c_str());
        else u.graph->gate().enter_shared(u.what.c_str());
        u.held = true;
      })
      .def("__exit__", [](GateUse& u, const py::args&) {
        if (!u.held) return;
        if (u.exclusive) u.graph->gate().leave_exclusive();
        else u.graph->gate().leave_shared();
        u.held = false;
      });

  py::class_<Graph>(m, "Graph", "The compiled network: layers, flat parameters, planned buffers.")
      .def(py::init([](const std::vector<int64_t>& input_shape, const py::list& layers) {
             std::vector<LayerConfig> cfg;
             for (auto l : layers) cfg.push_back(to_layer_config(l.cast<py::dict>()));
             return new Graph(input_shape, cfg);
           }),
           py::arg("input_shape"), py::arg("layers"))
      .def_property_readonly("input_shape", [](const Graph& g) { return g.input_shape(); })
      .def_property_readonly("output_shape", [](const Graph& g) { return g.output_shape(); })
      .def_property_readonly("num_params", &Graph::num_params)
      .def_property_readonly("replicas_made", &Graph::replicas_made,
                             "Inference replicas made so far (one per overlapping predict/evaluate).")
      .def("layers", [](const Graph& g) {
        py::list out;
        for (size_t i = 0; i < g.num_layers(); ++i) {
          py::dict d;
          d["name"] = g.layer(i).name();
          d["kind"] = g.layer(i).kind();
          d["output_shape"] = g.layer_output_shape(i);
          int64_t n = 0;
          for (const auto& p : g.layer(i).param_specs()) n += shape_size(p.shape);
          d["num_params"] = n;
          out.append(d);
        }
        return out;
      })
      .def("params", [](const Graph& g) {
        py::list out;
        for (const auto& e : g.params()) {
          py::dict d;
          d["layer"] = e.layer;
          d["name"] = e.name;
          d["shape"] = e.shape;
          d["offset"] = e.offset;
          d["size"] = e.size;
          d["trainable"] = e.spec.trainable;
          out.append(d);
        }
        return out;
      })
      .def("param_buffer", [](py::object self) {
        Graph& g = self.cast<Graph&>();
        return view_of(g.param_data(), g.num_params(), self);
      }, "The flat parameter buffer as a writable float32 view (no copy).")
      .def("grad_buffer", [](py::object self) {
        Graph& g = self.cast<Graph&>();
        return view_of(g.grad_data(), g.num_params(), self);
      }, "The flat gradient buffer as a writable float32 view (no copy).")
      .def("state_buffer", [](py::object self) {
        Graph& g = self.cast<Graph&>();
        return view_of(g.state_data(), g.num_state(), self);
      }, "Non-trainable weights (moving statistics) as a writable float32 view (no copy).")
      .def("use", [](Graph& g, const std::string& what, bool exclusive) { return GateUse{&g, what, exclusive}; },
           py::arg("what"), py::arg("exclusive"), py::keep_alive<0, 1>(),
           "A context manager holding the graph exclusively (training, weight changes) or shared "
           "(reads); raises RuntimeError when another thread holds it the other way.")
      .def("init_params", [](Graph& g, uint64_t seed) {
        UseGate::Exclusive use(g.gate(), "init_params");
        g.init_params(seed);
      }, py::arg("seed"))
      .def("predict", [](Graph& g, Array<float> x, int64_t batch_size) {
        const int64_t n = check_x(g, x, "predict");
        Shape shape{n};
        for (int64_t d : g.output_shape()) shape.push_back(d);
        py::array_t<float> out(shape);
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          predict(g, x.data(), n, batch_size, o);
        }
        return out;
      }, py::arg("x"), py::arg("batch_size"));

  py::class_<Trainer> trainer(m, "Trainer", "Runs epochs, evaluation and gradients over a Graph.");
  bind_trainer_data(trainer);
  trainer
      .def(py::init([](Graph& g, const std::string& loss, std::vector<float> class_weights,
                       double label_smoothing, const py::dict& optimizer) {
             return new Trainer(g, parse_loss(loss), std::move(class_weights), label_smoothing,
                                to_optimizer_config(optimizer));
           }),
           py::arg("graph"), py::arg("loss"), py::arg("class_weights"), py::arg("label_smoothing"),
           py::arg("optimizer"), py::keep_alive<1, 2>())
      .def("fit_epoch",
           [](Trainer& t, Array<float> x, std::optional<Array<int32_t>> labels,
              std::optional<Array<float>> targets, int64_t batch_size, bool shuffle, uint64_t seed,
              uint64_t epoch, std::optional<py::function> progress, int64_t every,
              bool check_interrupt) {
             DataRef d = make_data(t.graph(), x, labels, targets, "fit");
             return run_epoch(progress, check_interrupt, [&](const ProgressFn& fn) {
               return t.fit_epoch(d, batch_size, shuffle, seed, epoch, fn, every, check_interrupt);
             });
           },
           py::arg("x"), py::arg("labels"), py::arg("targets"),
           py::arg("batch_size"), py::arg("shuffle"), py::arg("seed"), py::arg("epoch"),
           py::arg("progress") = py::none(), py::arg("every") = 0, py::arg("check_interrupt") = false)
      .def("evaluate",
           [](Trainer& t, Array<float> x, std::optional<Array<int32_t>> labels,
              std::optional<Array<float>> targets, int64_t batch_size, std::optional<py::dict> metrics) {
             DataRef d = make_data(t.graph(), x, labels, targets, "evaluate");
             const MetricSpec spec = metrics ? to_metric_spec(*metrics) : t.metrics();
             EpochStats s;
             {
               py::gil_scoped_release release;
               s = t.evaluate(d, batch_size, spec);
             }
             return stats_dict(s);
           },
           py::arg("x"), py::arg("labels"), py::arg("targets"), py::arg("batch_size"),
           py::arg("metrics") = py::none(),
           "Loss and metrics in inference mode; `metrics` (a dict like set_metrics' arguments) "
           "overrides the trainer's for this call only.")
      .def("loss_and_gradients",
           [](Trainer& t, Array<float> x, std::optional<Array<int32_t>> labels,
              std::optional<Array<float>> targets, bool training, uint64_t seed) {
             DataRef d = make_data(t.graph(), x, labels, targets, "loss_and_gradients");
             py::gil_scoped_release release;
             return t.loss_and_gradients(d, training, seed);
           },
           py::arg("x"), py::arg("labels"), py::arg("targets"),
           py::arg("training") = false, py::arg("seed") = 0)
      .def("set_metrics", [](Trainer& t, bool confusion, int64_t top_k, bool regression, bool log_loss) {
        t.set_metrics(MetricSpec{confusion, top_k, regression, log_loss});
      }, py::arg("confusion"), py::arg("top_k"), py::arg("regression"), py::arg("log_loss"))
      .def("set_lr_table", [](Trainer& t, std::vector<double> table) { t.set_lr_table(std::move(table)); },
           py::arg("table"), "Per-step learning rates from the current step on.")
      .def_property("class_weights", &Trainer::class_weights, &Trainer::set_class_weights)
      .def_property("step", &Trainer::step, &Trainer::set_step)
      .def_property("learning_rate", [](const Trainer& t) { return t.optimizer().learning_rate; },
                    &Trainer::set_learning_rate)
      .def("slots", [](py::object self) {
        Trainer& t = self.cast<Trainer&>();
        py::list out;
        // Slots have the parameter count; the graph is the trainer's keep-alive partner.
        for (int i = 0; i < t.slots(); ++i) out.append(view_of(t.slot_data(i), t.num_params(), self));
        return out;
      }, "Optimizer state buffers (momentum, or Adam's m and v) as writable views.");
}

}  // namespace pydl::bind
