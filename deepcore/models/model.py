"""Training, evaluation and prediction, Keras style, for any model with a `forward`.

The step is: the layers' forwards, the loss's backprop, the closures in reverse, the
regularization gradients, then one optimizer update, all on the backend's device. Losses and
metrics accumulate on the device and are read once per epoch (or per progress refresh).
"""

from __future__ import annotations

import itertools
import math
import numbers
import sys
import warnings
from typing import Any

from deepcore import losses as losses_module
from deepcore import metrics as metrics_module
from deepcore import optimizers as optimizers_module
from deepcore import distribution
from deepcore.callbacks import Callback, CallbackList, History, ProgbarLogger
from deepcore.layers import symbolic
from deepcore.layers.symbolic import is_symbolic
from deepcore.layers.wrappers import Wrapper
from deepcore.models import data
from deepcore.registry import get_backend


class Model:
    """What `Sequential` and `Functional` share: compile, fit, evaluate, predict.

    ``Model(inputs, outputs)`` makes a `Functional` model, as Keras. Subclasses provide
    `layers`, `build(input_shape)`, `built`, `input_shape` and
    ``forward_with_mask(x, training) -> (y, output_mask, backprop)`` (``output_mask``: None, or
    True where the output is real, as Keras's masks; it weights the loss).
    """

    def __new__(cls, *args, **kwargs):
        if cls is Model:  # Keras's functional API: Model(inputs, outputs)
            from deepcore.models.functional import Functional

            return super().__new__(Functional)
        return super().__new__(cls)

    def __init__(self, name: str | None = None):
        self.name = name
        self.optimizer: optimizers_module.Optimizer | None = None
        self.loss: losses_module.Loss | None = None
        self.compiled_metrics: list[metrics_module.Metric] = []
        self.compiled_weighted_metrics: list[metrics_module.Metric] = []
        self._output_losses: list[metrics_module.Mean] = []  # <output>_loss, with several outputs
        self.stop_training = False
        self.history: History | None = None
        self.backend = None
        self._resume_epoch: int | None = None  # the epoch the next fit starts from (BackupAndRestore)

    def forward(self, x, training: bool = False) -> tuple:
        """``(batch, ...in) -> ((batch, ...out), backprop)``: `forward_with_mask` without the mask."""
        y, _, backprop = self.forward_with_mask(x, training)
        return y, backprop

    @property
    def input(self):
        """The symbolic input (a list for several), as Keras's ``model.input``: with
        ``layer.output`` it makes models of a model's parts, ``Model(model.input, layer.output)``."""
        return self.inputs[0] if len(self.inputs) == 1 else list(self.inputs)

    @property
    def output(self):
        """The symbolic output (a list for several, a dict for outputs given as one), as
        Keras's ``model.output``."""
        return self._structured_outputs(list(self.outputs))

    def _structured_outputs(self, values: list) -> Any:
        """One value per output, in order -> the structure of the model's outputs: the value
        itself for one output, else the list."""
        return values[0] if len(values) == 1 else list(values)

    def _input_names(self) -> list[str] | None:
        """The names of the model's inputs when it has several (its data is then a list or a
        dict of arrays), else None."""
        return None

    def _output_names(self) -> list[str] | None:
        """The names of the model's outputs when it has several (its targets and predictions
        are then lists), else None."""
        return None

    def _input_rank(self) -> int | None:
        """The rank of the one input's data (batch axis included), when known."""
        shape = getattr(self, "input_shape", None)
        return len(shape) if isinstance(shape, tuple) else None

    def _data(self, backend, x, y, sample_weight=None, class_weight=None, validation: bool = False):
        """`data.xy_weights` for this model's inputs and outputs."""
        return data.xy_weights(backend, x, y, sample_weight, class_weight, self._input_names(), self._output_names(),
                               validation=validation, x_rank=self._input_rank())

    def reset_states(self) -> None:
        """Forget the states that stateful recurrent layers carry between batches."""
        for layer in self.layers:
            if hasattr(layer, "reset_states"):
                layer.reset_states()

    # --- weights ----------------------------------------------------------------------------
    @property
    def trainable(self) -> bool:
        """Whether fit trains the model's weights; setting it sets every layer's ``trainable``
        (Keras's ``base_model.trainable = False`` freezes a feature extractor)."""
        return all(layer.trainable for layer in self.layers)

    @trainable.setter
    def trainable(self, value: bool) -> None:
        for layer in self.layers:
            layer.trainable = value

    @property
    def weights(self) -> list:
        return [v for layer in self.layers for v in layer.weights]

    @property
    def trainable_variables(self) -> list:
        return [v for layer in self.layers for v in layer.trainable_weights]

    def get_weights(self) -> list:
        """All weights as NumPy arrays, layer by layer in Keras order."""
        return [w for layer in self.layers for w in layer.get_weights()]

    def set_weights(self, weights: list) -> None:
        expected = sum(len(layer.weights) for layer in self.layers)
        if len(weights) != expected:
            raise ValueError(f"Model expects {expected} weight arrays; received {len(weights)}.")
        position = 0
        for layer in self.layers:
            count = len(layer.weights)
            layer.set_weights(weights[position:position + count])
            position += count

    def count_params(self) -> int:
        return sum(layer.count_params() for layer in self.layers)

    # --- saving (one safetensors file with a JSON config; see deepcore.saving) ---------------
    def save(self, filepath, overwrite: bool = True) -> None:
        """Write the architecture, weights, compile config and optimizer state to ``filepath``
        atomically; `deepcore.models.load_model` reads it back on any backend."""
        from deepcore import saving

        saving.save_model(self, filepath, overwrite)

    def to_json(self, **kwargs) -> str:
        """The architecture as JSON (no weights); `deepcore.models.model_from_json` rebuilds it.
        ``kwargs`` go to `json.dumps` (e.g. ``indent=2``)."""
        import json

        from deepcore.saving import serialize_object

        return json.dumps(serialize_object(self, "model"), **kwargs)

    def save_weights(self, filepath, overwrite: bool = True) -> None:
        """Write only the weights to ``filepath`` (read back with `load_weights`)."""
        from deepcore import saving

        saving.save_weights(self, filepath, overwrite)

    def load_weights(self, filepath) -> None:
        """Set the weights from a file written by `save_weights` or `save`; a shape mismatch
        names the layer and both shapes, and leaves the weights unchanged."""
        from deepcore import saving

        saving.load_weights(self, filepath)

    # --- compile ----------------------------------------------------------------------------
    def compile(self, optimizer="rmsprop", loss=None, metrics: list | None = None, loss_weights=None,
                weighted_metrics: list | None = None, run_eagerly: bool = False, steps_per_execution: int = 1,
                jit_compile="auto", auto_scale_loss: bool = True) -> None:
        """Choose the optimizer, the loss and the metrics (names or objects).

        As Keras 3, ``metrics`` ignore sample and class weights (mean metrics such as accuracy
        are weighted by the output mask); ``weighted_metrics`` use them, logged as
        ``weighted_<name>`` when a plain metric has that name. ``run_eagerly``, ``steps_per_execution``, ``jit_compile`` and
        ``auto_scale_loss`` choose how Keras compiles its steps; deepcore's steps are always
        eager array calls, so they change nothing. With one output, ``loss_weights`` scale the
        loss, as Keras.

        A model with several outputs takes, as Keras, one loss for all or a list (in output
        order) or dict (by output name) of losses, ``loss_weights`` likewise, and ``metrics``
        as a dict or a list with a list per output; it logs ``loss`` (the weighted sum),
        ``<output>_loss`` and ``<output>_<metric>``."""
        if loss is None:
            raise ValueError("compile() needs a loss, e.g. loss='mse' or loss='binary_crossentropy'.")
        output_names = self._output_names()
        self.optimizer = optimizers_module.get(optimizer)
        if output_names is None:
            # Keras's per-output structures for the one output: [loss], {name: loss}, [[metrics]],
            # and loss_weights (a number, [w] or {name: w}) scaling the loss.
            self.loss = losses_module.get(data.only_entry(loss))
            if loss_weights is not None:
                self.loss = losses_module.ScaledLoss(self.loss, data.only_entry(loss_weights))
            metrics, weighted_metrics = _metrics_of_one_output(metrics), _metrics_of_one_output(weighted_metrics)
            self.compiled_metrics = [metrics_module.get(m, self.loss.name) for m in metrics or []]
            self.compiled_weighted_metrics = [metrics_module.get(m, self.loss.name) for m in weighted_metrics or []]
            self._output_losses = []
        else:
            self.loss = loss if isinstance(loss, losses_module.MultiOutputLoss) else \
                losses_module.MultiOutputLoss.for_outputs(loss, loss_weights, output_names)
            loss_names = [output_loss.name for output_loss in self.loss.losses]
            self.compiled_metrics = metrics_module.OutputMetric.for_outputs(metrics, output_names, loss_names)
            self.compiled_weighted_metrics = metrics_module.OutputMetric.for_outputs(weighted_metrics, output_names,
                                                                                     loss_names)
            self._output_losses = [metrics_module.Mean(name=f"{name}_loss") for name in output_names]
        taken = {"loss"} | {metric.name for metric in self.compiled_metrics}
        for metric in self.compiled_weighted_metrics:
            if metric.name in taken:
                metric.name = f"weighted_{metric.name}"
            taken.add(metric.name)

    def _require_compiled(self, what: str) -> None:
        if self.loss is None or self.optimizer is None:
            raise RuntimeError(
                f"You must call compile() before {what}(), e.g. "
                "model.compile(optimizer='adam', loss='mse')."
            )

    # --- placement --------------------------------------------------------------------------
    def _prepare(self, x) -> Any:
        """Build on first data, follow a backend switch, and check the input's shape and values
        (``x``: all the data of this call, checked once rather than per batch)."""
        backend = get_backend()
        if not self.built:
            self.build((None, *x.shape[1:]))
        if self.backend is not backend:
            self._move_to(backend)
        self.check_input_shape(data.shapes(x))
        self.check_input_values(x)
        return backend

    def _move_to(self, backend) -> None:
        state = None
        if self.optimizer is not None and self.backend is not None:
            variables = self.trainable_variables
            state = [self.backend.to_numpy(a) for a in self.optimizer.state(variables)]
        for layer in self.layers:
            layer.move_to(backend)
        if state is not None:
            variables = self.trainable_variables
            arrays = [backend.asarray(a) for a in state]
            self.optimizer.set_state(variables, arrays, self.optimizer.iterations)
        self.backend = backend

    # --- the steps --------------------------------------------------------------------------
    # Keras adds the regularization penalties to the loss in training and in evaluation: the
    # activity penalties of the latest forward plus the trainable weights' penalties.
    def _activity_penalty(self) -> Any:
        return _activity_penalty(self.layers)

    def _weight_penalty(self, variables: list) -> Any:
        penalty = 0.0
        for variable in variables:
            if variable.regularizer is not None:
                penalty = penalty + variable.regularizer(variable.value)
        return penalty

    def _regularize(self, variables: list) -> Any:
        """Add each weight penalty's gradient to its variable (the activity penalties' gradients
        are in the backprop already); return the whole penalty."""
        penalty = self._activity_penalty()
        for variable in variables:  # one pass: this runs every training step
            regularizer = variable.regularizer
            if regularizer is not None:
                variable.grad = variable.grad + regularizer.gradient(variable.value)
                penalty = penalty + regularizer(variable.value)
        return penalty

    def _train_step(self, x, y, weights, variables: list, parallel=None, share: float = 1.0):
        """One optimizer step on a batch for ``variables`` (the trainable variables, listed once
        per epoch by fit: a layer made (un)trainable by a callback counts from the next epoch)."""
        y_pred, mask, backprop = self.forward_with_mask(x, training=True)
        loss, loss_backprop = self.loss.forward(y, y_pred, weights, mask)
        getattr(backprop, "parameters_only", backprop)(loss_backprop())  # dx of the data is unused
        loss = loss + self._regularize(variables)
        if parallel is not None:
            parallel.average_gradients(variables, share)
        self.optimizer.apply(variables)
        return loss, y_pred, mask

    @property
    def metrics_names(self) -> list[str]:
        """``["loss", *metric names]``: the order of `evaluate`'s list."""
        return ["loss", *(metric.name for metric in self._all_metrics())]

    def _all_metrics(self) -> list:
        return [*self._output_losses, *self.compiled_metrics, *self.compiled_weighted_metrics]

    def _update_metrics(self, tracker, loss, n, y, y_pred, weights, mask) -> None:
        tracker.update_state(loss, sample_weight=n)
        if self._output_losses:
            for output_loss, term in zip(self._output_losses, self.loss.last_terms):
                output_loss.update_state(term, sample_weight=n)
        if mask is None:  # the usual case
            for metric in self.compiled_metrics:
                metric.update_state(y, y_pred)  # Keras 3: no sample weights
            for metric in self.compiled_weighted_metrics:
                metric.update_state(y, y_pred, weights)
            return
        # Keras 3.15's mean metrics weight by the output mask (not rescaled), times the sample
        # weights for weighted_metrics; a mask (and weights) per output with several outputs.
        masked = _masked_weights(mask, y_pred, None)
        for metric in self.compiled_metrics:
            metric.update_state(y, y_pred, masked if metric.takes_output_mask() else None)
        if self.compiled_weighted_metrics:
            masked_weights = _masked_weights(mask, y_pred, weights)
            for metric in self.compiled_weighted_metrics:
                metric.update_state(y, y_pred, masked_weights if metric.takes_output_mask() else weights)

    def _logs(self, tracker, prefix: str = "") -> dict:
        logs = {prefix + "loss": tracker.result()}
        for metric in self._all_metrics():
            logs[prefix + metric.name] = metric.result()
        return logs

    def _reset_metrics(self) -> metrics_module.Mean:
        for metric in self._all_metrics():
            metric.reset_state()
        return metrics_module.Mean(name="loss")

    # --- fit --------------------------------------------------------------------------------
    def fit(self, x=None, y=None, batch_size: int | None = None, epochs: int = 1, verbose="auto",
            callbacks: list[Callback] | None = None, validation_split: float = 0.0,
            validation_data: tuple | None = None, shuffle: bool = True,
            class_weight: dict | None = None, sample_weight=None, initial_epoch: int = 0,
            steps_per_epoch: int | None = None, validation_steps: int | None = None,
            validation_batch_size: int | None = None, validation_freq=1) -> History:
        """Train for ``epochs`` epochs on ``x`` ``(n, ...)`` and ``y`` ``(n, ...)``; returns `History`.

        ``validation_split`` takes the *last* fraction of the data (before shuffling), as Keras.
        ``steps_per_epoch`` sets the batches of an epoch, taken on from where the previous
        epoch stopped (a new shuffle on each pass over the data), as Keras; ``validation_steps``
        caps the batches of a validation; ``validation_batch_size`` defaults to ``batch_size``;
        ``validation_freq`` validates every that many epochs, or after the (1-based) epochs it
        lists.
        """
        self._require_compiled("fit")
        batch_size = batch_size or 32
        if not 0.0 <= validation_split < 1.0:
            raise ValueError(f"validation_split must be in [0, 1); received {validation_split}.")
        backend = get_backend()
        x_all, y_all, w_all = self._data(backend, x, y, sample_weight, class_weight)
        n_all = data.count(x_all)

        if validation_data is not None:
            x_train, y_train, w_train = x_all, y_all, w_all
            x_val, y_val, w_val = self._validation_arrays(backend, validation_data)
        elif validation_split:
            split = int(n_all * (1.0 - validation_split))
            if split == 0 or split == n_all:
                raise ValueError(
                    f"validation_split={validation_split} leaves an empty training or validation set "
                    f"with {n_all} samples."
                )
            head, tail = slice(0, split), slice(split, n_all)
            x_train, y_train, w_train = (data.take(backend, a, head) for a in (x_all, y_all, w_all))
            x_val, y_val, w_val = (data.take(backend, a, tail) for a in (x_all, y_all, w_all))
        else:
            x_train, y_train, w_train = x_all, y_all, w_all
            x_val = y_val = w_val = None

        self._prepare(x_train)
        if x_val is not None:
            self.check_input_values(x_val)
        n = data.count(x_train)
        steps = math.ceil(n / batch_size) if steps_per_epoch is None else steps_per_epoch
        stream = None if steps_per_epoch is None else data.batch_stream(backend, n, batch_size, shuffle)
        verbose = _resolve_verbose(verbose)
        parallel = distribution.active()
        if parallel is not None:
            parallel.begin_fit(self, backend)
            verbose = verbose if parallel.rank == 0 else 0
        self.history = History()
        # Keras's order: the user's callbacks first, so History and the progress line see the
        # entries they add to the logs (e.g. ``learning_rate``).
        callback_list = list(callbacks or []) + [self.history] + ([ProgbarLogger(verbose)] if verbose else [])
        if parallel is not None and parallel.rank != 0:
            callback_list = [c for c in callback_list if not c.main_rank_only]
        hooks = CallbackList(callback_list, self, {"epochs": epochs, "steps": steps, "verbose": verbose})

        self.stop_training = False
        hooks.on_train_begin({})
        if self._resume_epoch is not None:  # set by BackupAndRestore from its backup
            initial_epoch, self._resume_epoch = self._resume_epoch, None
        logs: dict = {}  # the last epoch's, for on_train_end (as Keras)
        for epoch in range(initial_epoch, epochs):
            tracker = self._reset_metrics()
            hooks.on_epoch_begin(epoch, {})
            variables = self.trainable_variables
            epoch_batches = data.batches(backend, n, batch_size, shuffle) if stream is None else stream
            for step, index in enumerate(itertools.islice(epoch_batches, steps)):
                hooks.on_train_batch_begin(step, {})
                share = 1.0
                if parallel is not None:
                    index, share = parallel.shard(index, data.batch_length(index))
                # Three calls, no generator: this loop is the seed network's per-step overhead.
                xb, yb, wb = (data.take(backend, x_train, index), data.take(backend, y_train, index),
                              data.take(backend, w_train, index))
                loss, y_pred, mask = self._train_step(xb, yb, wb, variables, parallel, share)
                self._update_metrics(tracker, loss, data.count(xb), yb, y_pred, wb, mask)
                hooks.on_train_batch_end(step, {"loss": loss})
                if self.stop_training:  # set by a batch hook, e.g. TerminateOnNaN
                    break
            if parallel is not None:
                parallel.reduce_metrics([tracker, *self._all_metrics()])
                parallel.average_state(self)
            logs = self._logs(tracker)
            if x_val is not None and _validates(epoch, validation_freq):
                logs.update(self._evaluate_arrays(backend, x_val, y_val, w_val, validation_batch_size or batch_size,
                                                  hooks, prefix="val_", steps=validation_steps))
            if not math.isfinite(logs["loss"]):
                warnings.warn(
                    f"Epoch {epoch + 1}: the loss is {logs['loss']}; training stopped. Lower the "
                    "learning rate, check the inputs for extreme values, or clip gradients "
                    "(e.g. optimizer=Adam(clipnorm=1.0)).",
                    RuntimeWarning,
                    stacklevel=2,
                )
                self.stop_training = True
            hooks.on_epoch_end(epoch, logs)
            if self.stop_training:
                break
        self.optimizer.finalize_variable_values(self.trainable_variables)  # before on_train_end, as Keras
        hooks.on_train_end(logs)
        return self.history

    def _validation_arrays(self, backend, validation_data: tuple):
        if len(validation_data) not in (2, 3):
            raise ValueError("validation_data must be (x_val, y_val) or (x_val, y_val, sample_weight_val).")
        weights = validation_data[2] if len(validation_data) == 3 else None
        return self._data(backend, validation_data[0], validation_data[1], weights, validation=True)

    # --- evaluate and predict ---------------------------------------------------------------
    def _evaluate_arrays(self, backend, x, y, weights, batch_size: int, hooks: CallbackList, prefix: str = "",
                         steps: int | None = None) -> dict:
        """The logs over (at most ``steps``) batches; ``hooks`` get Keras's ``on_test_*`` calls."""
        tracker = self._reset_metrics()
        n = data.count(x)
        weight_penalty = self._weight_penalty(self.trainable_variables)  # the weights do not change here
        hooks.on_test_begin({})
        for step, index in enumerate(itertools.islice(data.batches(backend, n, batch_size, shuffle=False), steps)):
            hooks.on_test_batch_begin(step, {})
            xb, yb, wb = (data.take(backend, a, index) for a in (x, y, weights))
            y_pred, mask, _ = self.forward_with_mask(xb, training=False)
            loss, _ = self.loss.forward(yb, y_pred, wb, mask)
            loss = loss + self._activity_penalty() + weight_penalty
            self._update_metrics(tracker, loss, data.count(xb), yb, y_pred, wb, mask)
            hooks.on_test_batch_end(step, {"loss": loss})
        logs = self._logs(tracker, prefix)
        hooks.on_test_end(logs)
        return logs

    def evaluate(self, x=None, y=None, batch_size: int | None = None, verbose="auto",
                 sample_weight=None, steps: int | None = None, callbacks: list[Callback] | None = None,
                 return_dict: bool = False):
        """The loss (a float) without metrics, else ``[loss, *metrics]``; a dict with ``return_dict``.
        ``steps`` caps the batches; ``callbacks`` get the ``on_test_*`` hooks."""
        self._require_compiled("evaluate")
        backend = get_backend()
        x_all, y_all, weights = self._data(backend, x, y, sample_weight)
        self._prepare(x_all)
        hooks = CallbackList(list(callbacks or []), self, {"steps": steps, "verbose": verbose})
        logs = self._evaluate_arrays(backend, x_all, y_all, weights, batch_size or 32, hooks, steps=steps)
        if _resolve_verbose(verbose):
            from deepcore.callbacks.progbar import format_logs

            print(format_logs(logs), flush=True)
        return _as_keras_result(logs, return_dict)

    def predict(self, x, batch_size: int | None = None, verbose="auto", steps: int | None = None,
                callbacks: list[Callback] | None = None):
        """``(n, ...) -> (n, ...outputs)`` as a NumPy array (a list of them for several
        outputs), computed in batches (at most ``steps`` of them); ``callbacks`` get the
        ``on_predict_*`` hooks."""
        backend = get_backend()
        x_all = data.arrays_to_backend(backend, x, "x", self._input_names(), rank=self._input_rank())
        self._prepare(x_all)
        n = data.count(x_all)
        hooks = CallbackList(list(callbacks or []), self, {"steps": steps, "verbose": verbose})
        hooks.on_predict_begin({})
        outputs = []
        for step, index in enumerate(itertools.islice(data.batches(backend, n, batch_size or 32, shuffle=False), steps)):
            hooks.on_predict_batch_begin(step, {})
            outputs.append(self.forward(data.take(backend, x_all, index), training=False)[0])
            hooks.on_predict_batch_end(step, {"outputs": outputs[-1]})
        hooks.on_predict_end({})
        per_output = zip(*outputs) if self._output_names() is not None else [outputs]
        return self._structured_outputs([backend.to_numpy(backend.xp.concat(parts, axis=0)) for parts in per_output])

    def __call__(self, x, training: bool = False):
        """Forward pass on a backend array, or a list of them for a model with several inputs
        (no batching; the data stay on the device, only an input value check such as
        Embedding's reads two numbers). On symbolic tensors: the model used as a layer of a
        functional model (`call_symbolic`), its layers shared."""
        if is_symbolic(x):
            with symbolic.recording() as nodes:
                y = self.call_symbolic(x)
            results = list(y.values()) if isinstance(y, dict) else list(y) if isinstance(y, (list, tuple)) else [y]
            symbolic.ModelCall(self, nodes, list(x) if isinstance(x, (list, tuple)) else [x], results)
            return y
        names = self._input_names()
        x = data.one_array(x, self._input_rank()) if names is None else tuple(data.in_order(x, names, "x"))
        self._prepare(x)
        y = self.forward(x, training)[0]
        return self._structured_outputs(list(y) if self._output_names() is not None else [y])

    def call_symbolic(self, x):
        """This model's layers applied to symbolic tensors ``x``: the symbolic output."""
        raise NotImplementedError

    # --- single batches ---------------------------------------------------------------------
    def train_on_batch(self, x, y=None, sample_weight=None, class_weight=None, return_dict: bool = False):
        """One optimizer step on one batch; returns the loss and metrics of that batch."""
        self._require_compiled("train_on_batch")
        backend = get_backend()
        xb, yb, wb = self._data(backend, x, y, sample_weight, class_weight)
        self._prepare(xb)
        tracker = self._reset_metrics()
        loss, y_pred, mask = self._train_step(xb, yb, wb, self.trainable_variables)
        self._update_metrics(tracker, loss, data.count(xb), yb, y_pred, wb, mask)
        return _as_keras_result(self._logs(tracker), return_dict)

    def test_on_batch(self, x, y=None, sample_weight=None, return_dict: bool = False):
        return self.evaluate(x, y, batch_size=self._host_count(x), verbose=0, sample_weight=sample_weight,
                             return_dict=return_dict)

    def predict_on_batch(self, x):
        return self.predict(x, batch_size=self._host_count(x), verbose=0)

    def _host_count(self, x) -> int:
        """The number of samples in user data ``x`` (for several inputs: in the first)."""
        if self._input_names() is None:
            return len(x)
        return len(next(iter(x.values())) if isinstance(x, dict) else x[0])


def _activity_penalty(layers: list) -> Any:
    """The activity penalties of the latest forward of ``layers`` and of the layers that
    wrappers (TimeDistributed, Bidirectional...) run. Every training step sums them: a plain
    loop, no list built."""
    penalty = 0.0
    for layer in layers:
        if layer.activity_regularizer is not None:
            penalty = penalty + layer.activity_loss
        if isinstance(layer, Wrapper) and layer.applies_inner_activity:
            penalty = penalty + _activity_penalty(layer.inner_layers())
    return penalty


def _masked_weights(mask, y_pred, weights) -> Any:
    """The output mask as metric weights, times ``weights`` (per-sample, or None); for several
    outputs a tuple, one per output (``mask``, ``y_pred`` and tuple ``weights`` per output)."""
    if not isinstance(mask, tuple):
        return losses_module.mask_weights(mask, y_pred.dtype, weights)
    per_output = weights if isinstance(weights, tuple) else (weights,) * len(mask)
    return tuple(w if m is None else losses_module.mask_weights(m, p.dtype, w)
                 for m, p, w in zip(mask, y_pred, per_output))


def _metrics_of_one_output(metrics: Any) -> Any:
    """``[[m1, m2]]`` or ``{name: [m1, m2]}`` (Keras's per-output forms) -> ``[m1, m2]``."""
    entry = data.only_entry(metrics) if isinstance(metrics, dict) else metrics
    if isinstance(entry, (str, metrics_module.Metric)):
        return [entry]
    nested = isinstance(entry, (list, tuple)) and len(entry) == 1 and isinstance(entry[0], (list, tuple))
    return entry[0] if nested else entry


def _validates(epoch: int, validation_freq) -> bool:
    """Keras's ``validation_freq``: every n-th epoch for an int, the listed (1-based) epochs
    for a collection."""
    if isinstance(validation_freq, numbers.Integral):
        return (epoch + 1) % validation_freq == 0
    return epoch + 1 in validation_freq


def _resolve_verbose(verbose) -> int:
    """Keras's ``"auto"`` is 1; here it is 1 on a terminal and 2 (a line per epoch) otherwise."""
    if verbose == "auto":
        return 1 if sys.stdout.isatty() else 2
    if verbose not in (0, 1, 2):
        raise ValueError(f"verbose must be 0, 1, 2 or 'auto'; received {verbose!r}.")
    return int(verbose)


def _as_keras_result(logs: dict, return_dict: bool):
    if return_dict:
        return logs
    values = list(logs.values())
    return values[0] if len(values) == 1 else values
