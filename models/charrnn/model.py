"""The char-RNN as a minigraph graph: parameters, the three compiled functions, their state.

Characters go in as ids; layer 0 looks up rows of its input weights (the product of a one-hot
vector with ``W_x`` is a row of ``W_x``, so no one-hot GEMM runs), or of an embedding table
when ``embed > 0``. ``L`` stacked recurrent layers follow (the fused GRU op by default; LSTM
and a ReLU RNN with (0.9 x) identity recurrent weights run through ``theano.scan``), with
dropout on every layer's output, then one softmax layer shared by all time steps, and the
mean cross-entropy over every step. The row lookup and the time-major view are core ops
(``W[idx]``, ``T.reshape``), named in `ops`.

Inside the graph time comes first, ``(T, B, ...)``: each layer's input projection is one big
GEMM over all steps. The recurrent state of all layers is one array ``(L, B, S)`` (``S = H``,
or ``2H`` for the LSTM's ``[h, c]``) that each function takes and returns, so training can
carry it from batch to batch (Gorner's ``istate = ostate``) and generation from character to
character.

`CharRNN.compile_train` (loss, accuracy, new state; parameter and optimizer updates),
`compile_eval` (no updates, no dropout) and `compile_step` (one character, the generation
path: ``T.nnet.gru_step`` per layer) build the three functions; `CharRNN.arrays` and
`CharRNN.load_arrays` move parameters and optimizer state in and out of checkpoints.
"""

from dataclasses import asdict, dataclass, fields

import numpy as np

import minigraph as theano
import minigraph.tensor as T
from minigraph.tensor.nnet.basic import CrossentropySoftmax

from .ops import embedding_lookup, time_major

CELLS = ("gru", "lstm", "rnn")
OPTIMIZERS = ("adam", "sgd", "momentum", "rmsprop")
# The ReLU RNN starts from 0.9 * identity: with the state carried from batch to batch, an exact
# identity let it grow without bound (loss above 1e4 within 20 steps on Shakespeare, 2x128).
IRNN_SCALE = 0.9


class ModelError(ValueError):
    """A model configuration, or arrays for a model, that cannot work; the message says why."""


# ------------------------------------------------------------------------------ config


@dataclass(frozen=True)
class ModelConfig:
    """The architecture: everything that fixes the parameters' names and shapes.

    Parameters
    ----------
    vocab_size : int
    cell : {'gru', 'lstm', 'rnn'}
    layers, hidden : int
    embed : int
        0: characters enter layer 0 one-hot (a row lookup in its ``W_x``); else the width
        of an embedding table in front of layer 0.
    dropout : float
        Probability of dropping a unit of each layer's output while training (Gorner's
        ``pkeep = 0.8`` is ``dropout=0.2``).
    dtype : str
        Parameters, states and activations; float32 unless checking gradients.
    """

    vocab_size: int
    cell: str = "gru"
    layers: int = 2
    hidden: int = 256
    embed: int = 0
    dropout: float = 0.2
    dtype: str = "float32"

    def __post_init__(self):
        for name in ("vocab_size", "layers", "hidden"):
            value = getattr(self, name)
            if not isinstance(value, (int, np.integer)) or value < (2 if name == "vocab_size"
                                                                    else 1):
                raise ModelError(f"model {name} must be a positive integer"
                                 f"{' of at least 2' if name == 'vocab_size' else ''}, "
                                 f"got {value!r}")
        if not isinstance(self.embed, (int, np.integer)) or self.embed < 0:
            raise ModelError(f"model embed must be 0 (one-hot) or a positive width, got "
                             f"{self.embed!r}")
        if self.cell not in CELLS:
            raise ModelError(f"unknown cell {self.cell!r}; choose one of {', '.join(CELLS)}")
        if not (isinstance(self.dropout, (int, float)) and 0 <= self.dropout < 1):
            raise ModelError(f"dropout must be in [0, 1), got {self.dropout!r}")
        if self.dtype not in ("float32", "float64"):
            raise ModelError(f"model dtype must be float32 or float64, got {self.dtype!r}")

    @property
    def state_size(self):
        """Width ``S`` of one layer's recurrent state (the LSTM keeps ``[h, c]``)."""
        return 2 * self.hidden if self.cell == "lstm" else self.hidden

    def to_dict(self):
        """A JSON-able dict; `from_dict` reverses it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d):
        """Rebuild a saved config; ModelError names missing or unknown fields."""
        names = {f.name for f in fields(cls)}
        if not isinstance(d, dict) or "vocab_size" not in d or set(d) - names:
            raise ModelError(f"a saved model config must be a dict with 'vocab_size' and "
                             f"only the fields {sorted(names)}, got {d!r}"[:300])
        return cls(**d)


# -------------------------------------------------------------------------- cells


def _gru_step(gx_t, s, p, H):
    return T.nnet.gru_step(gx_t, s, p["W_h"], p["b_h"])


def _lstm_step(gx_t, s, p, H):
    h, c = s[:, :H], s[:, H:]
    g = gx_t + T.dot(h, p["W_h"]) + p["b_h"]  # gate order i, f, u, o
    i, f, o = T.nnet.sigmoid(g[:, :H]), T.nnet.sigmoid(g[:, H:2 * H]), T.nnet.sigmoid(g[:, 3 * H:])
    c = f * c + i * T.tanh(g[:, 2 * H:3 * H])
    return T.concatenate([o * T.tanh(c), c], axis=1)


def _rnn_step(gx_t, s, p, H):
    return T.nnet.relu(gx_t + T.dot(s, p["W_h"]) + p["b_h"])


_STEPS = {"gru": _gru_step, "lstm": _lstm_step, "rnn": _rnn_step}
_GATES = {"gru": 3, "lstm": 4, "rnn": 1}


def _layer_sequence(cell, gx, s0, p, H):
    """All outputs ``(T, B, H)`` and the final state ``(B, S)`` of one layer over ``gx``."""
    if cell == "gru":  # the whole recurrence in one fused op
        hs = T.nnet.gru_sequence(gx, s0, p["W_h"], p["b_h"])
        return hs, hs[-1]
    if not hasattr(theano, "scan"):
        raise ModelError(f"the {cell} cell needs minigraph.scan, which this installation "
                         "lacks; use --cell gru")
    step = _STEPS[cell]
    states, _ = theano.scan(lambda gx_t, s: step(gx_t, s, p, H), sequences=[gx],
                            outputs_info=[s0], name=f"{cell}_layer")
    return states[:, :, :H], states[-1]


def _named(var, name):
    var.name = name
    return var


def _init_params(config, seed):
    """Parameter arrays by name, PyTorch's uniform(-1/sqrt(H), 1/sqrt(H)) initialisation;
    the ReLU RNN gets scaled identity recurrent weights (IRNN), the LSTM a forget-gate bias
    of 1."""
    rng = np.random.default_rng(seed)
    H, G = config.hidden, _GATES[config.cell] * config.hidden
    k = 1 / np.sqrt(H)

    def uniform(*shape, bound=k):
        return rng.uniform(-bound, bound, shape).astype(config.dtype)

    arrays = {}
    if config.embed:
        arrays["embed/E"] = rng.normal(0, 1, (config.vocab_size, config.embed)).astype(
            config.dtype)
    for layer in range(config.layers):
        d_in = (config.embed or config.vocab_size) if layer == 0 else H
        p = {"W_x": uniform(d_in, G), "b_x": uniform(G), "W_h": uniform(H, G), "b_h": uniform(G)}
        if config.cell == "rnn":
            p["W_h"], p["b_x"][:], p["b_h"][:] = IRNN_SCALE * np.eye(H, dtype=config.dtype), 0, 0
        if config.cell == "lstm":
            p["b_x"][H:2 * H], p["b_h"][H:2 * H] = 1, 0
        arrays.update({f"l{layer}/{name}": a for name, a in p.items()})
    arrays["out/W"], arrays["out/b"] = uniform(H, config.vocab_size), uniform(config.vocab_size)
    return arrays


# -------------------------------------------------------------------------- model


class CharRNN:
    """The char-RNN's parameters (shared variables) and the graphs built from them.

    Parameters
    ----------
    config : ModelConfig
    seed : int
        Seeds the initial weights and the dropout streams.

    Attributes
    ----------
    params : dict of str -> SharedVariable
        ``l{k}/W_x``, ``l{k}/b_x``, ``l{k}/W_h``, ``l{k}/b_h`` per layer (gates r, z, n for
        the GRU, i, f, u, o for the LSTM), ``out/W``, ``out/b``, and ``embed/E`` if any.
    optimizer_state : dict of str -> SharedVariable
        The update rule's accumulators, filled by `compile_train`.

    Examples
    --------
    >>> model = CharRNN(ModelConfig(vocab_size=5, layers=1, hidden=8, dropout=0.0))
    >>> step = model.compile_step()
    >>> logits, state = step(np.array([3], "int32"), model.initial_state(1))
    >>> logits.shape, state.shape
    ((1, 5), (1, 1, 8))
    """

    def __init__(self, config, seed=0):
        from minigraph.tensor.shared_randomstreams import RandomStreams

        if not isinstance(config, ModelConfig):
            raise TypeError(f"CharRNN needs a ModelConfig, got {type(config).__name__}")
        self.config, self.seed = config, int(seed)
        self.params = {name: theano.shared(a, name=name)
                       for name, a in _init_params(config, self.seed).items()}
        self.optimizer_state = {}
        self._srng = RandomStreams(self.seed + 1)
        self._dropout_rngs = []

    # ---- graphs

    def inputs(self):
        """Fresh symbolic inputs ``x`` and ``y`` (B, T) int32 ids, ``state`` (L, B, S)."""
        return (T.imatrix("x"), T.imatrix("y"),
                T.tensor3("state", dtype=self.config.dtype))

    def initial_state(self, batch_size):
        """The zero state ``(L, batch_size, S)`` every sequence starts from."""
        c = self.config
        return np.zeros((c.layers, batch_size, c.state_size), dtype=c.dtype)

    def forward(self, x, state, dropout=False):
        """Logits for every step and the final state.

        Parameters
        ----------
        x : (B, T) int tensor
        state : (L, B, S) tensor
        dropout : bool
            Drop units of each layer's output (training only).

        Returns
        -------
        logits : (T * B, V) tensor
            Row ``t * B + b`` is step ``t`` of sequence ``b`` (time-major).
        new_state : (L, B, S) tensor
        """
        c, H = self.config, self.config.hidden
        n_steps, batch = x.shape[1], x.shape[0]
        ids = T.flatten(x.T)
        finals, hs, mask = [], None, None
        rows = (n_steps * batch, H)
        for layer in range(c.layers):
            p = self._layer(layer)
            if mask is None:
                inp = ids if layer == 0 else T.reshape(hs, rows)
                proj = self._project(layer, inp, p, many=True)
            else:  # the previous layer's dropout, inside this layer's input projection
                proj = self._dropout_dense(T.reshape(hs, rows), mask, p["W_x"], p["b_x"])
            gx = time_major(proj, n_steps)
            hs, final = _layer_sequence(c.cell, gx, state[layer], p, H)
            finals.append(final)
            if dropout and c.dropout:
                mask = T.reshape(self._dropout_mask(hs), rows)
        W, b = self.params["out/W"], self.params["out/b"]
        if mask is None:
            logits = T.dot(T.reshape(hs, rows), W) + b
        else:
            logits = self._dropout_dense(T.reshape(hs, rows), mask, W, b)
        return _named(logits, "logits"), _named(T.stack(finals), "new_state")

    def loss(self, logits, y):
        """Mean cross-entropy (nats per character) and accuracy of ``logits`` for ``y`` (B, T)."""
        targets = T.flatten(y.T)
        loss = T.mean(CrossentropySoftmax()(logits, targets))  # stable softmax + xent in one op
        hits = T.cast(T.eq(T.argmax(logits, axis=1), targets), self.config.dtype)
        return _named(loss, "loss"), _named(T.mean(hits), "accuracy")

    def _layer(self, layer):
        return {n: self.params[f"l{layer}/{n}"] for n in ("W_x", "b_x", "W_h", "b_h")}

    def _project(self, layer, inp, p, many=False):
        """``gx = x @ W_x + b_x`` for all rows of ``inp`` (ids for layer 0, else states)."""
        if layer == 0 and not self.config.embed:  # one-hot @ W_x is a row of W_x
            if many:  # B * T rows: add the bias to the V rows of the table, not to each row
                return embedding_lookup(p["W_x"] + p["b_x"], inp)
            return embedding_lookup(p["W_x"], inp) + p["b_x"]
        if layer == 0:
            inp = embedding_lookup(self.params["embed/E"], inp)
        return T.dot(inp, p["W_x"]) + p["b_x"]

    def _dropout_mask(self, hs):
        keep = 1.0 - self.config.dropout
        mask = self._srng.binomial(hs.shape, p=keep, dtype="int8")  # a quarter of float32
        self._dropout_rngs.append(self._srng.state_updates[-1][0])
        return mask

    def _dropout_dense(self, rows, mask, W, b):
        """``dot(rows * mask / keep, W) + b`` (inverted dropout, then a dense layer) without
        keeping the dropped-out rows: the backward recomputes them from ``rows`` (a layer's
        outputs, which its backward keeps anyway) and the int8 mask."""
        return T.nnet.dropout_dot(rows, mask, W, b, scale=1 / (1.0 - self.config.dropout))

    # ---- compiled functions

    def compile_train(self, optimizer="adam", learning_rate=1e-3, clip_norm=5.0, clip_value=0.0,
                      reduce=None):
        """``train(x, y, state) -> [loss, accuracy, new_state]``, updating the parameters.

        Parameters
        ----------
        optimizer : {'adam', 'sgd', 'momentum', 'rmsprop'}
            An update rule of `minigraph.updates`; its state goes to `optimizer_state`.
        learning_rate : float
        clip_norm : float
            Rescale the gradients when their global norm exceeds this (0: never).
        clip_value : float
            Clip each gradient element to ``[-clip_value, clip_value]`` first (0: never).
        reduce : callable, optional
            Data-parallel training: ``reduce(grads + [loss, accuracy])`` returns them averaged
            over the ranks (`minigraph.distributed.all_reduce`), before clipping, so every
            rank clips and applies the same gradient. Tensors it returns beyond those become
            extra outputs of the function.
        """
        from minigraph import updates as U

        if optimizer not in OPTIMIZERS:
            raise ModelError(f"unknown optimizer {optimizer!r}; choose one of "
                             f"{', '.join(OPTIMIZERS)}")
        for name, v, low in (("learning_rate", learning_rate, 1e-300),
                             ("clip_norm", clip_norm, 0), ("clip_value", clip_value, 0)):
            if not isinstance(v, (int, float)) or not v >= low:
                raise ModelError(f"{name} must be a {'positive' if low else 'non-negative'} "
                                 f"number, got {v!r}")
        x, y, state = self.inputs()
        self._dropout_rngs = []
        logits, new_state = self.forward(x, state, dropout=True)
        loss, acc = self.loss(logits, y)
        params = list(self.params.values())
        grads, extra = theano.grad(loss, params), []
        if reduce is not None:  # one all-reduce for the gradients and the reported metrics
            n = len(grads)
            reduced = list(reduce(grads + [loss, acc]))
            grads, (loss, acc), extra = reduced[:n], reduced[n:n + 2], reduced[n + 2:]
        if clip_value:
            grads = [T.clip(g, -clip_value, clip_value) for g in grads]
        if clip_norm:
            grads = U.total_norm_constraint(grads, clip_norm)
        updates = getattr(U, optimizer)(grads, params, learning_rate=learning_rate)
        own = set(params)
        self.optimizer_state = {f"optim/{i}": v
                                for i, v in enumerate(v for v in updates if v not in own)}
        return theano.function([x, y, state], [loss, acc, new_state, *extra], updates=updates,
                               name="train")

    def compile_eval(self):
        """``evaluate(x, y, state) -> [loss, accuracy, new_state]``: no dropout, no updates."""
        x, y, state = self.inputs()
        logits, new_state = self.forward(x, state, dropout=False)
        loss, acc = self.loss(logits, y)
        return theano.function([x, y, state], [loss, acc, new_state], name="eval",
                               no_default_updates=True)

    def compile_step(self):
        """``step(ids (B,), state (L, B, S)) -> [logits (B, V), new_state]``: one character.

        The generation path: per layer one row lookup or GEMV and one fused step
        (``T.nnet.gru_step`` for the GRU), no dropout, no time axis.
        """
        c, H = self.config, self.config.hidden
        ids, state = T.ivector("ids"), T.tensor3("state", dtype=c.dtype)
        finals, h = [], ids
        for layer in range(c.layers):
            p = self._layer(layer)
            s = _STEPS[c.cell](self._project(layer, h, p), state[layer], p, H)
            finals.append(s)
            h = s[:, :H] if c.cell == "lstm" else s
        logits = _named(T.dot(h, self.params["out/W"]) + self.params["out/b"], "logits")
        return theano.function([ids, state], [logits, _named(T.stack(finals), "new_state")],
                               name="generate_step")

    # ---- state in and out

    def arrays(self):
        """Parameters (``param/...``) and optimizer state (``optim/...``) as NumPy arrays."""
        out = {f"param/{n}": v.get_value() for n, v in self.params.items()}
        out.update({n: np.asarray(v.get_value()) for n, v in self.optimizer_state.items()})
        return out

    def load_arrays(self, arrays, optimizer=True):
        """Set parameters (and, if `optimizer`, optimizer state) from `arrays`.

        Raises
        ------
        ModelError
            Naming the arrays missing, extra, or of another shape or dtype; nothing is
            changed then.
        """
        wanted = {f"param/{n}": v for n, v in self.params.items()}
        if optimizer:
            wanted.update(self.optimizer_state)
        have = {n: a for n, a in arrays.items()
                if n.startswith("param/") or (optimizer and n.startswith("optim/"))}
        problems = [f"{n} missing" for n in wanted if n not in have]
        problems += [f"{n} unexpected" for n in have if n not in wanted]
        for n in set(wanted) & set(have):
            want, got = np.asarray(wanted[n].get_value(borrow=True)), np.asarray(have[n])
            if want.shape != got.shape or want.dtype != got.dtype:
                problems.append(f"{n} is {got.dtype}{list(got.shape)}, the model needs "
                                f"{want.dtype}{list(want.shape)}")
        if problems:
            more = f" and {len(problems) - 3} more" if len(problems) > 3 else ""
            raise ModelError("arrays do not fit this model: " + "; ".join(sorted(problems)[:3])
                             + more)
        for n, var in wanted.items():
            var.set_value(np.array(have[n], dtype=np.asarray(var.get_value(borrow=True)).dtype))

    def rng_state(self):
        """The dropout generators' states (JSON-able), to make a resumed run exact."""
        return [rng.get_value(borrow=True).bit_generator.state for rng in self._dropout_rngs]

    def set_rng_state(self, states):
        """Restore what `rng_state` returned (after `compile_train`)."""
        if len(states) != len(self._dropout_rngs):
            raise ModelError(f"saved dropout state is for {len(states)} generator(s), the model "
                             f"has {len(self._dropout_rngs)}")
        for rng, st in zip(self._dropout_rngs, states):
            try:
                bit = getattr(np.random, st["bit_generator"])()
                bit.state = st
            except (AttributeError, KeyError, TypeError, ValueError) as exc:
                raise ModelError(f"saved dropout state is not a NumPy generator state "
                                 f"({type(exc).__name__}: {exc})") from None
            rng.set_value(np.random.Generator(bit), borrow=True)

    def n_params(self):
        """Number of trainable scalars."""
        return int(sum(v.get_value(borrow=True).size for v in self.params.values()))
