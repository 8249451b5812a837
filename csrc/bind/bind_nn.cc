// Graph and Trainer: the compiled network and the training engine.
#include <algorithm>
#include <type_traits>

#include "bind/common.h"
#include "core/interrupt.h"
#include "nn/graph.h"
#include "nn/layer_registry.h"
#include "nn/trainer.h"

namespace pydl::bind {
namespace {

// One config value, by its Python type alone: the layer's own parser decides what it means.
// bool before int (a Python bool is an int); numpy integers count as ints (they have __index__).
LayerConfig::Value to_config_value(py::handle v, const std::string& layer, const std::string& key) {
  auto unusable = [&](const char* why) {
    return ValueError("layer '" + layer + "': config key '" + key + "' has an unusable value " +
                      std::string(py::repr(v)) + " (" + why + ")");
  };
  auto as_int = [&](py::handle x) -> int64_t {
    try {
      return py::int_(py::reinterpret_borrow<py::object>(x)).cast<int64_t>();
    } catch (const py::cast_error&) {
      throw unusable("an int beyond int64");
    } catch (const py::error_already_set&) {
      throw unusable("an int beyond int64");
    }
  };
  auto is_bool = [](py::handle x) { return PyBool_Check(x.ptr()) || py::isinstance(x, py::module_::import("numpy").attr("bool_")); };
  auto is_int = [&](py::handle x) { return !is_bool(x) && PyIndex_Check(x.ptr()); };
  if (v.is_none()) return LayerConfig::None{};
  if (is_bool(v)) return bool(py::bool_(py::reinterpret_borrow<py::object>(v)));
  if (is_int(v)) return as_int(v);
  if (PyFloat_Check(v.ptr())) return v.cast<double>();
  if (py::isinstance<py::str>(v)) return std::string(py::str(v));
  if (py::isinstance<py::list>(v) || py::isinstance<py::tuple>(v)) {
    LayerConfig::IntList out;
    for (auto item : v) {
      if (!is_int(item)) throw unusable("expected a list of ints");
      out.push_back(as_int(item));
    }
    return out;
  }
  throw unusable("expected an int, float, bool, str, None or a list of ints");
}

// A layer's dict, key by key; which keys are known is the layer's business (layer_registry.h).
LayerConfig to_layer_config(const py::dict& d) {
  LayerConfig c;
  const std::string layer = d.contains("name") ? std::string(py::str(d["name"])) : std::string();
  for (auto item : d) {
    if (!py::isinstance<py::str>(item.first))
      throw ValueError("layer '" + layer + "': config keys must be strings, got " + std::string(py::repr(item.first)));
    const std::string key = py::str(item.first);
    c.set(key, to_config_value(item.second, layer, key));
  }
  return c;
}

}  // namespace

// Each kind takes its own keys (Keras' names); any other key is an error, so that a typo or
// another library's name ("lr") is never silently ignored.
OptimizerConfig to_optimizer_config(const py::dict& d) {
  OptimizerConfig c;
  c.kind = parse_optimizer(required_str(d, "kind", "optimizer config"));
  std::vector<std::string> keys{"kind", "learning_rate", "clipnorm", "weight_decay"};
  switch (c.kind) {
    case OptimizerKind::SGD: keys.insert(keys.end(), {"momentum", "nesterov"}); break;
    case OptimizerKind::Adam:
    case OptimizerKind::AdamW: keys.insert(keys.end(), {"beta_1", "beta_2", "epsilon"}); break;
    case OptimizerKind::RMSprop: keys.insert(keys.end(), {"rho", "momentum", "epsilon", "centered"}); break;
    case OptimizerKind::Adagrad: keys.insert(keys.end(), {"initial_accumulator_value", "epsilon"}); break;
  }
  for (auto item : d) {
    const std::string key = py::str(item.first);
    if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
      std::string known;
      for (size_t i = 1; i < keys.size(); ++i) known += (i > 1 ? ", " : "") + keys[i];
      throw ValueError(std::string("optimizer ") + optimizer_name(c.kind) + ": unknown setting '" + key +
                       "' (expected " + known + ")");
    }
  }
  try {
    read_field(d, "learning_rate", c.learning_rate);
    read_field(d, "clipnorm", c.clipnorm);
    read_field(d, "weight_decay", c.weight_decay);
    read_field(d, "momentum", c.momentum);
    read_field(d, "nesterov", c.nesterov);
    read_field(d, "beta_1", c.beta_1);
    read_field(d, "beta_2", c.beta_2);
    read_field(d, "rho", c.rho);
    read_field(d, "centered", c.centered);
    read_field(d, "initial_accumulator_value", c.initial_accumulator_value);
    // Adam's default epsilon is 1e-8, Keras' RMSprop and Adagrad use 1e-7.
    if (c.kind == OptimizerKind::RMSprop || c.kind == OptimizerKind::Adagrad) c.epsilon = 1e-7;
    read_field(d, "epsilon", c.epsilon);
  } catch (const py::cast_error&) {
    throw ValueError(std::string("optimizer ") + optimizer_name(c.kind) + ": a setting has an unusable value in " +
                     std::string(py::repr(d)));
  }
  validate(c);
  return c;
}

namespace {

std::string shape_of(const py::array& x) {
  std::string got = "(";
  for (py::ssize_t i = 0; i < x.ndim(); ++i) got += (i ? ", " : "") + std::to_string(x.shape(i));
  return got + (x.ndim() == 1 ? ",)" : ")");
}

// Checks x is (n, *shape) and returns n.
int64_t check_x(const Shape& s, const Array<real>& x, const std::string& what) {
  bool ok = x.ndim() == py::ssize_t(s.size() + 1);
  for (size_t i = 0; ok && i < s.size(); ++i) ok = x.shape(py::ssize_t(i + 1)) == s[i];
  if (!ok) throw ValueError(what + ": expected input of shape " + shape_str(s) + ", got " + shape_of(x));
  return x.shape(0);
}

// A list (one entry per input or head) or, for one input or head, the entry itself.
std::vector<py::object> entries(const py::object& o, size_t expected, const std::string& what) {
  std::vector<py::object> out;
  if (py::isinstance<py::list>(o) || py::isinstance<py::tuple>(o)) {
    for (auto item : o) out.push_back(py::reinterpret_borrow<py::object>(item));
  } else {
    out.push_back(o);
  }
  if (out.size() != expected)
    throw ValueError(what + ": expected " + std::to_string(expected) + " arrays, got " + std::to_string(out.size()));
  return out;
}

void require_host(const Graph& g, const char* what) {
  if (g.device() != Device::CPU)
    throw std::runtime_error(std::string("Graph.") + what + ": the buffers live on cuda:" +
                             std::to_string(g.device_ordinal()) + " (no host view); use read_buffer / write_buffer");
}

Graph::Which which_buffer(const std::string& which) {
  if (which == "params") return Graph::Which::Params;
  if (which == "grads") return Graph::Which::Grads;
  if (which == "state") return Graph::Which::State;
  throw ValueError("expected buffer 'params', 'grads' or 'state', got '" + which + "'");
}

Device device_kind(const std::string& kind) {
  if (kind == "cpu") return Device::CPU;
  if (kind == "cuda") return Device::CUDA;
  throw ValueError("expected device 'cpu' or 'cuda', got '" + kind + "'");
}

}  // namespace

DataHolder make_data(const Trainer& t, const py::object& x, const py::object& labels, const py::object& targets,
                     const py::object& sample_weight, const std::string& what, bool with_x) {
  const Graph& g = const_cast<Trainer&>(t).graph();
  DataHolder h;
  DataRef& d = h.ref;
  d.n = -1;
  if (with_x) {
    auto xs = entries(x, g.num_inputs(), what + " x");
    for (size_t i = 0; i < xs.size(); ++i) {
      h.xs.push_back(Array<real>::ensure(xs[i]));
      if (!h.xs.back()) throw ValueError(what + ": input " + std::to_string(i) + " is not a numeric array");
      const int64_t n = check_x(g.input_shape(i), h.xs.back(), what);
      if (d.n >= 0 && n != d.n) throw ValueError(what + ": the input arrays have different numbers of samples");
      d.n = n;
      d.xs.push_back(h.xs.back().data());
    }
  }
  auto ls = entries(labels, t.num_heads(), what + " labels");
  auto ts = entries(targets, t.num_heads(), what + " targets");
  for (size_t j = 0; j < t.num_heads(); ++j) {
    const int32_t* lp = nullptr;
    const real* tp = nullptr;
    if (!ls[j].is_none()) {
      h.labels.push_back(Array<int32_t>::ensure(ls[j]));
      if (!h.labels.back()) throw ValueError(what + ": labels are not an integer array");
      const Array<int32_t>& lj = h.labels.back();
      const int64_t steps = t.label_steps(j);  // a sequence output: (samples, steps) labels
      if (d.n < 0) d.n = lj.ndim() >= 1 ? lj.shape(0) : lj.size();
      if (lj.size() != d.n * steps)
        throw ValueError(what + (steps == 1 ? ": expected one label per sample"
                                            : ": expected labels of shape (" + std::to_string(d.n) + ", " +
                                                  std::to_string(steps) + "), one per step"));
      lp = h.labels.back().data();
    }
    if (!ts[j].is_none()) {
      h.targets.push_back(Array<real>::ensure(ts[j]));
      if (!h.targets.back()) throw ValueError(what + ": targets are not a numeric array");
      const Array<real>& tj = h.targets.back();
      if (tj.ndim() < 1) throw ValueError(what + ": expected an array of targets, got a scalar");
      if (d.n < 0) d.n = tj.shape(0);
      // Categorical targets are class distributions: exactly (samples, classes), so labels or
      // a transposed array cannot pass for them.
      bool ok = tj.size() == d.n * g.output_size(j);
      if (t.head(j).loss == LossKind::CategoricalCrossEntropy)
        ok = ok && tj.ndim() == 2 && tj.shape(0) == d.n && tj.shape(1) == g.output_size(j);
      if (!ok) {
        std::string want = "(" + std::to_string(d.n);
        for (int64_t dim : g.output_shape(j)) want += ", " + std::to_string(dim);
        throw ValueError(what + ": " + loss_name(t.head(j).loss) + " expects targets of shape " + want + "), got " +
                         shape_of(tj));
      }
      tp = h.targets.back().data();
    }
    d.labels.push_back(lp);
    d.targets.push_back(tp);
  }
  if (!sample_weight.is_none()) {
    h.sample_weight = Array<real>::ensure(sample_weight);
    if (!*h.sample_weight || h.sample_weight->ndim() != 1 || h.sample_weight->size() != d.n)
      throw ValueError(what + ": expected sample_weight of shape (" + std::to_string(d.n) + ",)");
    d.sample_weight = h.sample_weight->data();
  }
  if (d.n < 0) d.n = 0;
  return h;
}

namespace {

py::dict head_dict(const HeadStats& h, int64_t samples) {
  py::dict d;
  d["loss"] = samples ? h.loss_sum / double(samples) : 0.0;
  d["correct"] = h.accuracy.correct;
  d["counted"] = h.accuracy.total;
  const MetricSums& m = h.metrics;
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

// A Python object with call(y_true, y_pred) -> per-sample losses and gradient(y_true, y_pred)
// -> d loss_i / d y_pred, as a CustomLoss. y_true and y_pred are copies (the engine's dtype) shaped
// (rows, *output_shape); the results are checked for their shapes. The GIL is taken for the
// call only; a Python exception propagates as itself.
CustomLossOf<real> python_loss(const py::object& obj, const Shape& out_shape) {
  for (const char* m : {"call", "gradient"})
    if (!py::hasattr(obj, m) || !PyCallable_Check(obj.attr(m).ptr()))
      throw py::type_error("custom loss: expected an object with call(y_true, y_pred) and gradient(y_true, y_pred) "
                           "methods, got " + std::string(py::repr(obj)));
  // The object is released with the GIL held, whichever thread drops the last copy.
  std::shared_ptr<py::object> held(new py::object(obj), [](py::object* o) {
    py::gil_scoped_acquire gil;
    delete o;
  });
  return [held, out_shape](Matrix<const real> y_pred, Matrix<const real> y_true, double* per_sample,
                           Matrix<real> grad) {
    py::gil_scoped_acquire gil;
    std::vector<py::ssize_t> shape{py::ssize_t(y_pred.rows)};
    for (int64_t d : out_shape) shape.push_back(py::ssize_t(d));
    auto copy = [&](Matrix<const real> m) {
      py::array_t<real> a(shape);
      std::copy(m.data, m.data + m.size(), a.mutable_data());
      return a;
    };
    py::array_t<real> yp = copy(y_pred), yt = copy(y_true);
    // r as float64, exactly of `want`'s shape.
    auto checked = [&](const py::object& r, const char* what, const std::vector<py::ssize_t>& want) {
      auto a = py::array_t<double, py::array::c_style | py::array::forcecast>::ensure(r);
      bool ok = a && a.ndim() == py::ssize_t(want.size());
      for (size_t i = 0; ok && i < want.size(); ++i) ok = a.shape(py::ssize_t(i)) == want[i];
      if (!ok) {
        std::string w = "(";
        for (size_t i = 0; i < want.size(); ++i) w += (i ? ", " : "") + std::to_string(want[i]);
        throw ValueError(std::string("custom loss ") + what + ": expected a float array of shape " + w +
                         (want.size() == 1 ? ",)" : ")") + ", got " +
                         (a ? shape_of(a) : std::string(py::repr(py::type::of(r)))));
      }
      return a;
    };
    auto losses = checked((*held).attr("call")(yt, yp), "call", {shape[0]});
    std::copy(losses.data(), losses.data() + y_pred.rows, per_sample);
    if (!grad.data) return;
    auto g = checked((*held).attr("gradient")(yt, yp), "gradient", shape);
    for (int64_t i = 0; i < grad.size(); ++i) grad.data[i] = real(g.data()[i]);
  };
}

// One output's loss: loss, class_weights, label_smoothing, weight, from_logits, pos_weight (a
// number or one per output column), object (loss "custom": see python_loss); other keys are
// errors.
HeadConfig to_head(const py::dict& d, const Shape& out_shape) {
  HeadConfig h;
  h.loss = parse_loss(required_str(d, "loss", "trainer head"));
  static const char* const kKeys[] = {"loss", "class_weights", "label_smoothing", "weight", "from_logits",
                                      "pos_weight", "object"};
  for (auto item : d) {
    const std::string key = py::str(item.first);
    if (std::find_if(std::begin(kKeys), std::end(kKeys), [&](const char* k) { return key == k; }) == std::end(kKeys))
      throw ValueError("trainer head: unknown key '" + key +
                       "' (expected loss, class_weights, label_smoothing, weight, from_logits, pos_weight, object)");
  }
  if (d.contains("object") != (h.loss == LossKind::Custom))
    throw ValueError("trainer head: loss 'custom' and an 'object' go together");
  if (h.loss == LossKind::Custom) h.custom = python_loss(d["object"], out_shape);
  try {
    read_field(d, "class_weights", h.class_weights);
    read_field(d, "label_smoothing", h.label_smoothing);
    read_field(d, "weight", h.weight);
    read_field(d, "from_logits", h.from_logits);
    if (d.contains("pos_weight") && !d["pos_weight"].is_none()) {
      py::handle pw = d["pos_weight"];
      if (py::isinstance<py::float_>(pw) || py::isinstance<py::int_>(pw)) h.pos_weight = {pw.cast<real>()};
      else h.pos_weight = pw.cast<std::vector<real>>();
    }
  } catch (const py::cast_error&) {
    throw ValueError(std::string("trainer head (") + loss_name(h.loss) + "): a setting has an unusable value in " +
                     std::string(py::repr(d)));
  }
  return h;
}

}  // namespace

py::dict run_epoch(std::optional<py::function>& progress, bool check_interrupt,
                   const std::function<EpochStats(const ProgressFn&)>& epoch) {
  ProgressFn fn;
  if (progress) {
    fn = [&progress](int64_t done, double loss) {
      py::gil_scoped_acquire acquire;
      // Python code (callbacks, pydl.kernels calls) runs on the host, whatever the trainer's
      // DeviceScope says; the engine's own calls open their own scopes.
      DeviceScope host(Device::CPU);
      // None or True: go on; False: a callback asked to stop after this batch.
      py::object r = (*progress)(done, loss);
      return r.is_none() || r.cast<bool>();
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
  // Head 0's numbers at the top level (what single-output models read), every head's in
  // "heads"; "loss" is the weighted total.
  py::dict d = s.heads.empty() ? py::dict() : head_dict(s.heads[0], s.samples);
  d["loss"] = s.mean_loss();
  d["samples"] = s.samples;
  d["batches"] = s.batches;
  d["interrupted"] = s.interrupted;
  d["nonfinite_batch"] = s.nonfinite_batch;
  d["nonfinite_update"] = s.nonfinite_update;
  py::list heads;
  for (const auto& h : s.heads) heads.append(head_dict(h, s.samples));
  d["heads"] = heads;
  return d;
}

namespace {

py::array_t<real> view_of(real* data, int64_t n, py::handle owner) {
  return py::array_t<real>({n}, {sizeof(real)}, data, owner);
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

// The engine's classes are module-local: pydl._core64 binds the same C++ names compiled over
// double (core/real.h), which pybind11's process-wide type registry would otherwise refuse.
void bind_nn(py::module_& m) {
  m.def("layer_types", [] {
    py::dict out;
    for (const auto& t : registered_layer_types()) out[py::str(t.type)] = t.kind;
    return out;
  }, "Every registered C++ layer type (the config's 'type') and the kind it reports ('Dense').");
  py::class_<GateUse>(m, "GraphUse", py::module_local(), "Holds a Graph's use gate while inside a with block.")
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

  py::class_<Graph>(m, "Graph", py::module_local(), "The compiled network: layers, flat parameters, planned buffers.")
      .def(py::init([](const std::vector<int64_t>& input_shape, const py::list& layers) {
             std::vector<LayerConfig> cfg;
             for (auto l : layers) cfg.push_back(to_layer_config(l.cast<py::dict>()));
             return new Graph(input_shape, cfg);
           }),
           py::arg("input_shape"), py::arg("layers"), "A chain (Sequential): layer i reads layer i - 1.")
      .def(py::init([](const std::vector<std::vector<int64_t>>& inputs, const py::list& layers,
                       const std::vector<py::tuple>& nodes, const std::vector<int>& outputs) {
             std::vector<LayerConfig> cfg;
             for (auto l : layers) cfg.push_back(to_layer_config(l.cast<py::dict>()));
             std::vector<GraphNode> n;
             for (const py::tuple& node : nodes) {
               if (node.size() != 2 && node.size() != 3)
                 throw ValueError("Graph: expected nodes as (layer, inputs) or (layer, inputs, output), got a tuple of " +
                                  std::to_string(node.size()));
               n.push_back(GraphNode{node[0].cast<int>(), node[1].cast<std::vector<int>>(),
                                     node.size() == 3 ? node[2].cast<int>() : 0});
             }
             return new Graph(std::vector<Shape>(inputs.begin(), inputs.end()), cfg, n, outputs);
           }),
           py::arg("inputs"), py::arg("layers"), py::arg("nodes"), py::arg("outputs"),
           "A DAG: per-sample input shapes, the distinct layers, the calls as (layer index, input "
           "tensors[, which output of the call]) in topological order (tensor ids: inputs first, then one "
           "per node), the output tensors.")
      .def_property_readonly("input_shape", [](const Graph& g) { return g.input_shape(); })
      .def_property_readonly("output_shape", [](const Graph& g) { return g.output_shape(); })
      .def_property_readonly("input_shapes", [](const Graph& g) {
        std::vector<Shape> out;
        for (size_t i = 0; i < g.num_inputs(); ++i) out.push_back(g.input_shape(i));
        return out;
      })
      .def_property_readonly("output_shapes", [](const Graph& g) {
        std::vector<Shape> out;
        for (size_t j = 0; j < g.num_outputs(); ++j) out.push_back(g.output_shape(j));
        return out;
      })
      .def_property_readonly("num_params", &Graph::num_params)
      .def("set_layer_frozen", [](Graph& g, const std::string& name, bool frozen) {
             for (size_t i = 0; i < g.num_layers(); ++i)
               if (g.layer(i).name() == name) return g.set_layer_frozen(i, frozen);
             throw ValueError("set_layer_frozen: no layer named '" + name + "'");
           }, py::arg("name"), py::arg("frozen"),
           "layer.trainable = False: BatchNormalization then trains in inference mode (the trainer's "
           "frozen ranges keep the weights).")
      .def_property_readonly("replicas_made", &Graph::replicas_made,
                             "Inference replicas made so far (one per overlapping predict/evaluate).")
      .def_property_readonly("activation_floats_per_sample", &Graph::activation_floats_per_sample,
                             "Activation and activation-gradient floats planned per sample.")
      .def_property_readonly("inference_floats_per_sample", &Graph::inference_floats_per_sample,
                             "Activation floats an inference replica plans per sample (buffers reused by liveness).")
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
      .def("nodes", [](const Graph& g) {
        py::list out;
        for (size_t k = 0; k < g.num_nodes(); ++k) {
          py::dict d;
          d["layer"] = g.node(k).layer;
          d["inputs"] = g.node(k).inputs;
          d["output"] = g.node(k).output;
          d["output_shape"] = g.tensor_shape(g.num_inputs() + k);
          out.append(d);
        }
        return out;
      }, "Each call: its layer index, input tensor ids and output shape.")
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
        require_host(g, "param_buffer");
        return view_of(g.param_data(), g.num_params(), self);
      }, "The flat parameter buffer as a writable view in the engine's dtype (no copy; CPU graphs only).")
      .def("grad_buffer", [](py::object self) {
        Graph& g = self.cast<Graph&>();
        require_host(g, "grad_buffer");
        return view_of(g.grad_data(), g.num_params(), self);
      }, "The flat gradient buffer as a writable view in the engine's dtype (no copy; CPU graphs only).")
      .def("state_buffer", [](py::object self) {
        Graph& g = self.cast<Graph&>();
        require_host(g, "state_buffer");
        return view_of(g.state_data(), g.num_state(), self);
      }, "Non-trainable weights (moving statistics) as a writable view in the engine's dtype (no copy; CPU "
         "graphs only).")
      .def("read_buffer", [](Graph& g, const std::string& which) {
        const Graph::Which w = which_buffer(which);
        py::array_t<real> out(w == Graph::Which::State ? g.num_state() : g.num_params());
        g.read(w, 0, out.size(), out.mutable_data());
        return out;
      }, py::arg("which"), "A copy of the flat 'params', 'grads' or 'state' buffer, wherever the graph lives.")
      .def("write_buffer", [](Graph& g, const std::string& which, int64_t offset, Array<real> values) {
        g.write(which_buffer(which), offset, values.size(), values.data());
      }, py::arg("which"), py::arg("offset"), py::arg("values"),
         "Writes values (flattened) at offset of the 'params', 'grads' or 'state' buffer, wherever it lives.")
      .def("copy_weights_from", [](Graph& g, Graph& other) {
        if (&g == &other) return;
        UseGate::Shared read(other.gate(), "copy_weights_from");
        UseGate::Exclusive write(g.gate(), "copy_weights_from");
        g.copy_weights_from(other);
      }, py::arg("other"), "Weights and state of a graph with the same parameter layout, across devices.")
      .def("to", [](Graph& g, const std::string& kind, int ordinal) {
        UseGate::Exclusive use(g.gate(), "to");
        g.to(device_kind(kind), ordinal);
      }, py::arg("kind"), py::arg("ordinal") = 0,
         "Moves the weights ('cpu' or 'cuda', with the device ordinal) and re-plans activations there; "
         "a Trainer over this graph follows (Trainer.follow_graph).")
      .def_property_readonly("device", [](const Graph& g) {
        return py::make_tuple(g.device() == Device::CUDA ? "cuda" : "cpu", g.device_ordinal());
      }, "(kind, ordinal): where the graph's buffers live.")
      .def("buffer_devices", [](const Graph& g) {
        py::dict out;
        for (const auto& [name, dev] : g.buffer_devices()) out[py::str(name)] = dev == Device::CUDA ? "cuda" : "cpu";
        return out;
      }, "For tests: where each allocated buffer of the graph lives.")
      .def("use", [](Graph& g, const std::string& what, bool exclusive) { return GateUse{&g, what, exclusive}; },
           py::arg("what"), py::arg("exclusive"), py::keep_alive<0, 1>(),
           "A context manager holding the graph exclusively (training, weight changes) or shared "
           "(reads); raises RuntimeError when another thread holds it the other way.")
      .def("init_params", [](Graph& g, uint64_t seed) {
        UseGate::Exclusive use(g.gate(), "init_params");
        g.init_params(seed);
      }, py::arg("seed"))
      .def("predict", [](Graph& g, const py::object& x, int64_t batch_size) {
        // One array per input (a bare array for one); one array per output back (a bare array
        // for one output).
        auto xs = entries(x, g.num_inputs(), "predict x");
        std::vector<Array<real>> held;
        std::vector<const real*> ptrs;
        int64_t n = -1;
        for (size_t i = 0; i < xs.size(); ++i) {
          held.push_back(Array<real>::ensure(xs[i]));
          if (!held.back()) throw ValueError("predict: input " + std::to_string(i) + " is not a numeric array");
          const int64_t rows = check_x(g.input_shape(i), held.back(), "predict");
          if (n >= 0 && rows != n) throw ValueError("predict: the input arrays have different numbers of samples");
          n = rows;
          ptrs.push_back(held.back().data());
        }
        std::vector<py::array_t<real>> outs;
        std::vector<real*> out_ptrs;
        for (size_t j = 0; j < g.num_outputs(); ++j) {
          Shape shape{n};
          for (int64_t d : g.output_shape(j)) shape.push_back(d);
          outs.emplace_back(shape);
          out_ptrs.push_back(outs.back().mutable_data());
        }
        {
          py::gil_scoped_release release;
          predict(g, ptrs, n, batch_size, out_ptrs);
        }
        if (outs.size() == 1 && !(py::isinstance<py::list>(x) || py::isinstance<py::tuple>(x))) return py::object(outs[0]);
        py::list result;
        for (auto& o : outs) result.append(o);
        return py::object(result);
      }, py::arg("x"), py::arg("batch_size"));

  py::class_<Trainer> trainer(m, "Trainer", py::module_local(), "Runs epochs, evaluation and gradients over a Graph.");
  // Loader-driven training (bind_data.cc) feeds float32 batches: pydl._core64 binds no loader.
  if constexpr (std::is_same_v<real, float>) bind_trainer_data(trainer);
  trainer
      .def(py::init([](Graph& g, const py::list& heads, const py::dict& optimizer) {
             std::vector<HeadConfig> hs;
             size_t j = 0;
             for (auto h : heads) {
               if (!py::isinstance<py::dict>(h)) throw py::type_error("Trainer: expected one dict per head");
               hs.push_back(to_head(h.cast<py::dict>(), j < g.num_outputs() ? g.output_shape(j) : Shape{}));
               ++j;
             }
             return new Trainer(g, std::move(hs), to_optimizer_config(optimizer));
           }),
           py::arg("graph"), py::arg("heads"), py::arg("optimizer"), py::keep_alive<1, 2>(),
           "heads: one dict per model output: loss, class_weights, label_smoothing, weight, from_logits "
           "(default True), pos_weight (binary: a number or one per output column).")
      .def(py::init([](Graph& g, const std::string& loss, std::vector<real> class_weights,
                       double label_smoothing, const py::dict& optimizer) {
             return new Trainer(g, {HeadConfig{parse_loss(loss), std::move(class_weights), label_smoothing, 1.0}},
                                to_optimizer_config(optimizer));
           }),
           py::arg("graph"), py::arg("loss"), py::arg("class_weights"), py::arg("label_smoothing"),
           py::arg("optimizer"), py::keep_alive<1, 2>(), "A single-output model's trainer.")
      .def("fit_epoch",
           [](Trainer& t, const py::object& x, const py::object& labels, const py::object& targets,
              int64_t batch_size, bool shuffle, uint64_t seed, uint64_t epoch, std::optional<py::function> progress,
              int64_t every, bool check_interrupt, const py::object& sample_weight) {
             DataHolder h = make_data(t, x, labels, targets, sample_weight, "fit");
             return run_epoch(progress, check_interrupt, [&](const ProgressFn& fn) {
               return t.fit_epoch(h.ref, batch_size, shuffle, seed, epoch, fn, every, check_interrupt);
             });
           },
           py::arg("x"), py::arg("labels"), py::arg("targets"),
           py::arg("batch_size"), py::arg("shuffle"), py::arg("seed"), py::arg("epoch"),
           py::arg("progress") = py::none(), py::arg("every") = 0, py::arg("check_interrupt") = false,
           py::arg("sample_weight") = py::none(),
           "x: an array per input (a bare array for one); labels/targets: one entry per output (None where "
           "unused; bare for one output).")
      .def("evaluate",
           [](Trainer& t, const py::object& x, const py::object& labels, const py::object& targets,
              int64_t batch_size, const py::object& metrics, const py::object& sample_weight) {
             DataHolder h = make_data(t, x, labels, targets, sample_weight, "evaluate");
             std::vector<MetricSpec> specs = t.metrics();
             if (py::isinstance<py::dict>(metrics)) {
               specs.at(0) = to_metric_spec(metrics.cast<py::dict>());
             } else if (!metrics.is_none()) {
               auto ms = entries(metrics, t.num_heads(), "evaluate metrics");
               for (size_t j = 0; j < ms.size(); ++j) specs[j] = to_metric_spec(ms[j].cast<py::dict>());
             }
             EpochStats s;
             {
               py::gil_scoped_release release;
               s = t.evaluate(h.ref, batch_size, specs);
             }
             return stats_dict(s);
           },
           py::arg("x"), py::arg("labels"), py::arg("targets"), py::arg("batch_size"),
           py::arg("metrics") = py::none(), py::arg("sample_weight") = py::none(),
           "Loss and metrics in inference mode; `metrics` (a dict like set_metrics' arguments, or a "
           "list of them per output) overrides the trainer's for this call only.")
      .def("loss_and_gradients",
           [](Trainer& t, const py::object& x, const py::object& labels, const py::object& targets, bool training,
              uint64_t seed, const py::object& sample_weight) {
             DataHolder h = make_data(t, x, labels, targets, sample_weight, "loss_and_gradients");
             py::gil_scoped_release release;
             return t.loss_and_gradients(h.ref, training, seed);
           },
           py::arg("x"), py::arg("labels"), py::arg("targets"),
           py::arg("training") = false, py::arg("seed") = 0, py::arg("sample_weight") = py::none())
      .def("set_metrics", [](Trainer& t, bool confusion, int64_t top_k, bool regression, bool log_loss, size_t head) {
        t.set_metrics(head, MetricSpec{confusion, top_k, regression, log_loss});
      }, py::arg("confusion"), py::arg("top_k"), py::arg("regression"), py::arg("log_loss"), py::arg("head") = 0)
      .def("set_lr_table", [](Trainer& t, std::vector<double> table) { t.set_lr_table(std::move(table)); },
           py::arg("table"), "Per-step learning rates from the current step on.")
      .def_property("class_weights", [](const Trainer& t) { return t.head(0).class_weights; },
                    [](Trainer& t, std::vector<real> w) { t.set_class_weights(0, std::move(w)); },
                    "The first output's class weights (empty: none).")
      .def("set_class_weights", &Trainer::set_class_weights, py::arg("head"), py::arg("weights"))
      .def_property_readonly("num_heads", &Trainer::num_heads)
      .def_property_readonly("fused_heads", [](const Trainer& t) {
        std::vector<bool> out;
        for (size_t j = 0; j < t.num_heads(); ++j) out.push_back(t.fused(j));
        return out;
      }, "Per output: whether its loss (from_logits=False) is computed from the logits under the "
         "output's final sigmoid/softmax Activation node, whose backward is then skipped.")
      .def_property("step", &Trainer::step, &Trainer::set_step)
      .def_property("learning_rate", [](const Trainer& t) { return t.optimizer().learning_rate; },
                    &Trainer::set_learning_rate)
      .def("set_frozen", [](Trainer& t, const py::iterable& ranges) {
        std::vector<ParamRange> rs;
        for (auto item : ranges) {
          auto pair = py::reinterpret_borrow<py::object>(item);
          if (!py::isinstance<py::sequence>(pair) || py::len(pair) != 2)
            throw py::type_error("set_frozen: expected (offset, size) pairs, got " + std::string(py::repr(pair)));
          try {
            rs.push_back(ParamRange{pair[py::int_(0)].cast<int64_t>(), pair[py::int_(1)].cast<int64_t>()});
          } catch (const py::cast_error&) {
            throw py::type_error("set_frozen: expected integer (offset, size) pairs, got " + std::string(py::repr(pair)));
          }
        }
        t.set_frozen(std::move(rs));
      }, py::arg("ranges"),
      "Freezes (offset, size) ranges of the flat parameter buffer (see Graph.params() for each "
      "weight's offset and size): training gives them no update, no weight decay and no optimizer "
      "state change, and clipnorm leaves their gradients out. Replaces the previous ranges; [] "
      "unfreezes everything.")
      .def_property_readonly("frozen", [](const Trainer& t) {
        std::vector<std::pair<int64_t, int64_t>> out;
        for (const ParamRange& r : t.frozen()) out.emplace_back(r.offset, r.size);
        return out;
      }, "The frozen (offset, size) ranges, sorted by offset.")
      .def_property_readonly("num_slots", &Trainer::slots, "How many optimizer state buffers (see slots()).")
      .def_property_readonly("num_params", &Trainer::num_params, "Values per optimizer state buffer.")
      .def("follow_graph", [](Trainer& t) {
        UseGate::Exclusive use(t.graph().gate(), "to");
        t.follow_graph();
      }, "Moves the optimizer state and batch buffers to the graph's device (after Graph.to).")
      .def("read_slots", [](Trainer& t) {
        py::list out;
        for (int i = 0; i < t.slots(); ++i) {
          py::array_t<real> a(t.num_params());
          t.read_slot(i, a.mutable_data());
          out.append(a);
        }
        return out;
      }, "Copies of the optimizer state buffers (see slots()), wherever they live.")
      .def("write_slot", [](Trainer& t, int i, Array<real> values) {
        if (i < 0 || i >= t.slots()) throw ValueError("write_slot: no optimizer slot " + std::to_string(i));
        require_size(values, t.num_params(), "write_slot");
        UseGate::Exclusive use(t.graph().gate(), "set_variables");
        t.write_slot(i, values.data());
      }, py::arg("index"), py::arg("values"), "Replaces optimizer state buffer `index`, wherever it lives.")
      .def("release_resident_data", [](Trainer& t) {
        UseGate::Exclusive use(t.graph().gate(), "release_resident_data");
        t.release_resident_data();
      }, "Frees the device copy of fit's training arrays (fit calls it when it ends).")
      .def("buffer_devices", [](const Trainer& t) {
        py::dict out;
        for (const auto& [name, dev] : t.buffer_devices()) out[py::str(name)] = dev == Device::CUDA ? "cuda" : "cpu";
        return out;
      }, "For tests: where the optimizer slots and batch buffers live.")
      .def("slots", [](py::object self) {
        Trainer& t = self.cast<Trainer&>();
        if (t.device() != Device::CPU)
          throw std::runtime_error("Trainer.slots: the optimizer state lives on the device; use read_slots / write_slot");
        py::list out;
        // Slots have the parameter count; the graph is the trainer's keep-alive partner.
        for (int i = 0; i < t.slots(); ++i) out.append(view_of(t.slot_data(i), t.num_params(), self));
        return out;
      }, "Optimizer state buffers as writable views, in optim.h's order: SGD's momentum; Adam's m, v; "
         "RMSprop's square_avg, then its momentum buffer (momentum > 0), then grad_avg (centered); Adagrad's sum.");
}

}  // namespace pydl::bind
