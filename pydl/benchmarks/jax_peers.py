"""JAX peers of the training benchmarks: the same nets, data, batch sizes and Adam (optax),
each training step one ``jax.jit``-compiled function (forward, loss, backward, optimizer
update), called once per batch over pre-shuffled batches, as a JAX user writes it. JAX is an
optional peer (``pip install jax jaxlib optax``, the CPU build); XLA's CPU backend sizes its
thread pool by the cores it sees, so run on a machine (or cpuset) with PYDL_BENCH_THREADS
cores for a fair comparison. Each ``*_case`` returns a zero-argument function doing one
epoch; it blocks until the last update is computed."""
import numpy as np

from . import dense as C
from . import cnn as CNN
from . import rnn as RNN


def try_jax():
    try:
        import jax  # noqa: F401
        import optax  # noqa: F401
    except Exception:
        return None
    import jax
    return jax


def _glorot(key, shape, fan_in, fan_out):
    import jax
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return jax.random.uniform(key, shape, minval=-limit, maxval=limit, dtype="float32")


def _epoch(params, loss_fn, x, y, batch, lr):
    """One epoch over x, y pre-shuffled into batches, a jitted step per batch."""
    import jax
    import optax

    opt = optax.adam(lr)
    state = {"params": params, "opt": opt.init(params)}

    @jax.jit
    def step(params, opt_state, xb, yb):
        loss, grads = jax.value_and_grad(loss_fn)(params, xb, yb)
        updates, opt_state = opt.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    perm = np.random.default_rng(1).permutation(len(x))
    xs, ys = x[perm], y[perm]
    batches = [(jax.device_put(xs[i:i + batch]), jax.device_put(ys[i:i + batch])) for i in range(0, len(x), batch)]

    def epoch():
        p, o = state["params"], state["opt"]
        for xb, yb in batches:
            p, o, loss = step(p, o, xb, yb)
        jax.block_until_ready(p)
        state["params"], state["opt"] = p, o
    return epoch


def _xent(logits, y):
    import optax
    return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()


# ------------------------------------------------------------------------------ MLP
def mlp_train_case(sizes=C.MLP_SIZES, n=C.MLP_SAMPLES, batch=C.MLP_BATCH):
    import jax
    import jax.numpy as jnp
    x, y = C.mlp_data(sizes, n)
    keys = jax.random.split(jax.random.PRNGKey(0), len(sizes))
    params = [(_glorot(k, (a, b), a, b), jnp.zeros(b)) for k, a, b in zip(keys, sizes[:-1], sizes[1:])]

    def loss_fn(params, xb, yb):
        h = xb
        for i, (w, b) in enumerate(params):
            h = h @ w + b
            if i < len(params) - 1:
                h = jax.nn.relu(h)
        return _xent(h, yb)
    return _epoch(params, loss_fn, x, y.astype(np.int32), batch, C.LR)


# ------------------------------------------------------------------------------ CNN
def _conv(x, w, b):
    import jax
    y = jax.lax.conv_general_dilated(x, w, (1, 1), "SAME", dimension_numbers=("NHWC", "HWIO", "NHWC"))
    return y + b


def _pool(x):
    import jax
    return jax.lax.reduce_window(x, -np.inf, jax.lax.max, (1, 2, 2, 1), (1, 2, 2, 1), "VALID")


def _conv_params(key, cin, cout):
    import jax.numpy as jnp
    return (_glorot(key, (3, 3, cin, cout), 9 * cin, 9 * cout), jnp.zeros(cout))


def _cnn_params():
    import jax
    import jax.numpy as jnp
    k = jax.random.split(jax.random.PRNGKey(0), 4)
    return {"c1": _conv_params(k[0], 1, 32), "c2": _conv_params(k[1], 32, 64),
            "d1": (_glorot(k[2], (3136, 128), 3136, 128), jnp.zeros(128)),
            "d2": (_glorot(k[3], (128, 10), 128, 10), jnp.zeros(10))}


def _cnn_logits(p, xb):
    import jax
    h = _pool(jax.nn.relu(_conv(xb, *p["c1"])))
    h = _pool(jax.nn.relu(_conv(h, *p["c2"])))
    h = jax.nn.relu(h.reshape(len(xb), -1) @ p["d1"][0] + p["d1"][1])
    return h @ p["d2"][0] + p["d2"][1]


def cnn_train_case():
    x, y = CNN.images(CNN.TRAIN_SAMPLES)
    return _epoch(_cnn_params(), lambda p, xb, yb: _xent(_cnn_logits(p, xb), yb), x, y.astype(np.int32),
                  CNN.TRAIN_BATCH, CNN.LR)


def cnn_infer_case():
    """The same CNN's forward pass as one jax.jit function, batch by batch (as predict)."""
    import jax
    x, _ = CNN.images(CNN.INFER_SAMPLES)
    params = _cnn_params()
    forward = jax.jit(_cnn_logits)
    batches = [jax.device_put(x[i:i + CNN.INFER_BATCH]) for i in range(0, len(x), CNN.INFER_BATCH)]
    jax.block_until_ready(forward(params, batches[0]))  # compiled before timing

    def infer():
        return jax.block_until_ready([forward(params, xb) for xb in batches])
    return infer


def resnet_train_case():
    import jax
    import jax.numpy as jnp
    x, y = CNN.images(CNN.TRAIN_SAMPLES)
    k = jax.random.split(jax.random.PRNGKey(0), 5)
    params = {"a": _conv_params(k[0], 1, 32), "b1": _conv_params(k[1], 32, 32), "b2": _conv_params(k[2], 32, 32),
              "c": _conv_params(k[3], 32, 64), "out": (_glorot(k[4], (3136, 10), 3136, 10), jnp.zeros(10))}

    def loss_fn(p, xb, yb):
        a = jax.nn.relu(_conv(xb, *p["a"]))
        h = _pool(jax.nn.relu(a + _conv(jax.nn.relu(_conv(a, *p["b1"])), *p["b2"])))
        h = _pool(jax.nn.relu(_conv(h, *p["c"])))
        return _xent(h.reshape(len(xb), -1) @ p["out"][0] + p["out"][1], yb)
    return _epoch(params, loss_fn, x, y.astype(np.int32), CNN.TRAIN_BATCH, CNN.LR)


# ------------------------------------------------------------------------------ LSTM
def lstm_train_case():
    import jax
    import jax.numpy as jnp
    x, y = RNN.sequences()
    f, u = RNN.FEATURES, RNN.UNITS
    k = jax.random.split(jax.random.PRNGKey(0), 3)
    params = {"wx": _glorot(k[0], (f, 4 * u), f, 4 * u), "wh": _glorot(k[1], (u, 4 * u), u, 4 * u),
              "b": jnp.zeros(4 * u), "out": (_glorot(k[2], (u, 10), u, 10), jnp.zeros(10))}

    def loss_fn(p, xb, yb):
        def cell(carry, xt):
            h, c = carry
            z = xt @ p["wx"] + h @ p["wh"] + p["b"]
            i, fg, g, o = jnp.split(z, 4, axis=-1)
            c = jax.nn.sigmoid(fg) * c + jax.nn.sigmoid(i) * jnp.tanh(g)
            h = jax.nn.sigmoid(o) * jnp.tanh(c)
            return (h, c), None
        zeros = jnp.zeros((len(xb), u))
        (h, _), _ = jax.lax.scan(cell, (zeros, zeros), jnp.swapaxes(xb, 0, 1))
        return _xent(h @ p["out"][0] + p["out"][1], yb)
    return _epoch(params, loss_fn, x, y.astype(np.int32), RNN.BATCH, RNN.LR)
