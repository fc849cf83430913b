"""Metrics that accumulate on the device and are read once, when `result()` is asked for.

Each metric turns a batch into per-sample values (`values(y_true, y_pred) -> (batch,)`) and
keeps a running weighted sum on the device, so training never waits on the host per batch.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

from deepcore.backend import array_device, array_namespace
from deepcore import losses
from deepcore.losses import align_targets, weights_like
from deepcore.registry import get_backend


class Metric:
    """A running (weighted) mean of per-sample values."""

    sparse = False
    # Keras 3's mean metrics (accuracies, errors) weight their values by the model's output
    # mask; its RootMeanSquaredError and confusion metrics do not (see `takes_output_mask`).
    uses_output_mask = True

    def __init__(self, name: str | None = None):
        self.name = name or _NAME_OF.get(type(self), type(self).__name__.lower())
        self.reset_state()

    def values(self, y_true, y_pred) -> Any:
        raise NotImplementedError

    def reset_state(self) -> None:
        self.total: Any = 0.0
        self.count: Any = 0

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        xp = array_namespace(y_pred)
        values = self.values(align_targets(y_true, y_pred, self.sparse), y_pred)
        if sample_weight is None:
            self.total = self.total + xp.sum(values)
            self.count += math.prod(values.shape)  # (batch, timesteps) values: every entry counts
        else:
            weights = xp.broadcast_to(weights_like(xp, sample_weight, values), values.shape)
            self.total = self.total + xp.sum(values * weights)
            self.count = self.count + xp.sum(weights)

    def takes_output_mask(self) -> bool:
        """Whether a model weights this metric's values by its output mask: as Keras 3, a
        mean metric (per-entry `values` and this class's `update_state`) does; a metric with
        its own `update_state` (a user's, a confusion metric) and RootMeanSquaredError do not."""
        return self.uses_output_mask and type(self).update_state is Metric.update_state

    def result(self) -> float:
        """The mean so far, as a Python float (this reads the device once)."""
        count = float(self.count)
        return float(self.total) / count if count else 0.0

    def host_state(self) -> list[float]:
        """The running sums as host numbers (summed over processes by data-parallel training)."""
        return [float(self.total), float(self.count)]

    def set_host_state(self, values: list[float]) -> None:
        self.total, self.count = values

    def get_config(self) -> dict:
        return {"name": self.name}


class Mean(Metric):
    """The weighted mean of whatever is passed as ``y_pred`` (used to track the loss)."""

    def update_state(self, values, sample_weight=None) -> None:  # type: ignore[override]
        if sample_weight is None:
            self.total = self.total + values
            self.count += 1
        else:
            self.total = self.total + values * sample_weight
            self.count = self.count + sample_weight


class Accuracy(Metric):
    """Fraction of outputs equal to their targets (Keras's ``Accuracy`` class; the string
    ``"accuracy"`` picks the accuracy that fits the loss instead, see `get`)."""

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        return xp.mean(xp.astype(y_true == y_pred, y_pred.dtype), axis=-1)


class BinaryAccuracy(Metric):
    """Fraction of outputs with (y_pred > threshold) == y_true."""

    def __init__(self, name=None, threshold: float = 0.5):
        self.threshold = threshold
        super().__init__(name)

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        hits = xp.astype(xp.astype(y_pred > self.threshold, y_pred.dtype) == y_true, y_pred.dtype)
        return xp.mean(hits, axis=-1)

    def get_config(self):
        return {**super().get_config(), "threshold": self.threshold}


class CategoricalAccuracy(Metric):
    """Fraction of samples whose arg-max prediction is the arg-max of the one-hot target."""

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        return xp.astype(xp.argmax(y_true, axis=-1) == xp.argmax(y_pred, axis=-1), y_pred.dtype)


class SparseCategoricalAccuracy(Metric):
    """Fraction of samples whose arg-max prediction equals the integer target."""

    sparse = True

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        hits = xp.astype(y_true, xp.int64) == xp.argmax(y_pred, axis=-1)
        return xp.astype(hits, y_pred.dtype)


class MeanSquaredError(Metric):
    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        error = y_pred - y_true
        return xp.mean(error * error, axis=-1)


class MeanAbsoluteError(Metric):
    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        return xp.mean(xp.abs(y_pred - y_true), axis=-1)


class RootMeanSquaredError(MeanSquaredError):
    """The square root of the (weighted) mean squared error over everything seen."""

    uses_output_mask = False

    def result(self) -> float:
        return math.sqrt(super().result())


class TopKCategoricalAccuracy(Metric):
    """Fraction of samples whose target class is among the ``k`` highest predictions (a class
    tied with the k-th counts as in, as Keras); one-hot targets."""

    def __init__(self, k: int = 5, name=None):
        self.k = k
        super().__init__(name)

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        return self._in_top_k(xp, y_pred, xp.argmax(y_true, axis=-1))

    def _in_top_k(self, xp, y_pred, target):
        target_score = xp.take_along_axis(y_pred, xp.reshape(xp.astype(target, xp.int64), (-1, 1)), axis=-1)
        above = xp.sum(xp.astype(y_pred > target_score, y_pred.dtype), axis=-1)
        return xp.astype(above < self.k, y_pred.dtype)

    def get_config(self):
        return {**super().get_config(), "k": self.k}


class SparseTopKCategoricalAccuracy(TopKCategoricalAccuracy):
    """`TopKCategoricalAccuracy` for integer class targets."""

    sparse = True

    def values(self, y_true, y_pred):
        return self._in_top_k(array_namespace(y_pred), y_pred, y_true)


def _as_list(count) -> list[float]:
    """A count (a float, a host list, a device scalar or vector) as a list of floats."""
    if isinstance(count, (float, int)):
        return [float(count)]
    if isinstance(count, list):
        return count
    return [float(v) for v in get_backend().to_numpy(count).reshape(-1)]


class _DeviceSums(Metric):
    """A metric computed from running sums kept on the device, named in ``SUMS`` (each a
    number or a vector), read once by `result`; their host form serves data-parallel sums."""

    uses_output_mask = False
    SUMS: tuple[str, ...] = ()

    def reset_state(self) -> None:
        self.counts: dict[str, Any] = {name: 0.0 for name in self.SUMS}

    def host_state(self) -> list[float]:
        return [v for name in self.SUMS for v in _as_list(self.counts[name])]

    def set_host_state(self, values: list[float]) -> None:
        start = 0
        for name in self.SUMS:  # each sum keeps its length
            size = len(_as_list(self.counts[name]))
            self.counts[name] = [float(v) for v in values[start:start + size]]
            start += size


class FBetaScore(_DeviceSums):
    """Keras 3's F-beta score of multi-label (or one-hot) outputs ``(batch, classes)``:
    ``(1 + beta^2) p r / (beta^2 p + r)`` from the weighted true-positive, false-positive and
    false-negative counts per class. A prediction counts as positive above ``threshold`` or,
    without one, where it is its row's largest (and not 0). ``average``: None (one score per
    class, a list), "micro" (counts over all classes), "macro" (the mean of the scores) or
    "weighted" (their mean weighted by each class's weighted count of positives)."""

    SUMS = ("tp", "fp", "fn", "positives")

    def __init__(self, average: str | None = None, beta: float = 1.0, threshold: float | None = None, name=None):
        if average not in (None, "micro", "macro", "weighted"):
            raise ValueError(f"average must be None, 'micro', 'macro' or 'weighted'. Received: average={average!r}")
        if threshold is not None and not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold must be in (0, 1]. Received: threshold={threshold!r}")
        self.average, self.beta, self.threshold = average, beta, threshold
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        xp = array_namespace(y_pred)
        if self.threshold is None:  # the row's largest, unless 0 (a row of zeros stays negative)
            predicted = (y_pred >= xp.max(y_pred, axis=-1, keepdims=True)) & (xp.abs(y_pred) > 1e-9)
        else:
            predicted = y_pred > self.threshold
        predicted, y_true = xp.astype(predicted, y_pred.dtype), xp.astype(y_true, y_pred.dtype)
        weights = 1.0 if sample_weight is None else xp.reshape(xp.astype(sample_weight, y_pred.dtype), (-1, 1))
        axis = None if self.average == "micro" else 0
        for name, values in (("tp", predicted * y_true), ("fp", predicted * (1.0 - y_true)),
                             ("fn", (1.0 - predicted) * y_true), ("positives", y_true)):
            self.counts[name] = self.counts[name] + xp.sum(values * weights, axis=axis)

    def result(self):
        tp, fp, fn, positives = (_as_list(self.counts[name]) for name in self.SUMS)  # one device read each
        eps, beta2 = 1e-7, self.beta**2  # Keras's epsilon in each division
        scores = []
        for t, f_p, f_n in zip(tp, fp, fn):
            precision, recall = t / (t + f_p + eps), t / (t + f_n + eps)
            scores.append(precision * recall / (beta2 * precision + recall + eps) * (1 + beta2))
        if self.average == "weighted":
            return sum(s * w for s, w in zip(scores, positives)) / (sum(positives) + eps)
        if self.average is not None:
            return sum(scores) / len(scores)
        return scores

    def get_config(self):
        return {**super().get_config(), "average": self.average, "beta": self.beta, "threshold": self.threshold}


class F1Score(FBetaScore):
    """`FBetaScore` with ``beta=1``: the harmonic mean of precision and recall."""

    def __init__(self, average: str | None = None, threshold: float | None = None, name=None):
        super().__init__(average=average, beta=1.0, threshold=threshold, name=name)

    def get_config(self):
        config = super().get_config()
        del config["beta"]
        return config


class R2Score(_DeviceSums):
    """Keras 3's coefficient of determination of ``(batch, outputs)`` predictions: per output
    ``1 - sum(w (y - y_pred)^2) / sum(w (y - weighted mean of y)^2)`` over everything seen
    (0 where the targets are constant), then ``class_aggregation``: "uniform_average" (the
    mean), "variance_weighted_average" (weighted by each output's total variance) or None (a
    list). With ``num_regressors`` p > 0 it is adjusted: ``1 - (1 - r2) (n - 1) / (n - p - 1)``
    (n: the samples with a nonzero weight, as fixed in keras-team/keras#23334; Keras 3.15 counts
    every entry of the targets), unless n - 1 <= p (then a warning, as Keras)."""

    SUMS = ("sum", "squared_sum", "total_mse", "count", "num_samples")

    def __init__(self, class_aggregation: str | None = "uniform_average", num_regressors: int = 0, name=None):
        if class_aggregation not in (None, "uniform_average", "variance_weighted_average"):
            raise ValueError("class_aggregation must be None, 'uniform_average' or 'variance_weighted_average'. "
                             f"Received: class_aggregation={class_aggregation!r}")
        if num_regressors < 0:
            raise ValueError(f"num_regressors must be >= 0. Received: num_regressors={num_regressors!r}")
        self.class_aggregation, self.num_regressors = class_aggregation, num_regressors
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        xp = array_namespace(y_pred)
        y_true = align_targets(y_true, y_pred)
        if y_pred.ndim == 1:
            y_true, y_pred = xp.reshape(y_true, (-1, 1)), xp.reshape(y_pred, (-1, 1))
        weights = (xp.ones_like(y_pred) if sample_weight is None
                   else xp.broadcast_to(xp.reshape(xp.astype(sample_weight, y_pred.dtype), (-1, 1)), y_pred.shape))
        weighted = y_true * weights
        error = y_true - y_pred
        for name, value in (("sum", xp.sum(weighted, axis=0)), ("squared_sum", xp.sum(y_true * weighted, axis=0)),
                            ("total_mse", xp.sum(error * error * weights, axis=0)), ("count", xp.sum(weights, axis=0)),
                            ("num_samples", xp.sum(xp.astype(xp.any(weights != 0.0, axis=-1), y_pred.dtype)))):
            self.counts[name] = self.counts[name] + value

    def result(self):
        sums, squared, mse, count = (_as_list(self.counts[name]) for name in self.SUMS[:4])
        n = _as_list(self.counts["num_samples"])[0]
        totals = [q - s_ * (s_ / c) for s_, q, c in zip(sums, squared, count)]  # weighted sums of squares
        scores = [1.0 - m / total if total else 0.0 for m, total in zip(mse, totals)]
        if self.class_aggregation == "uniform_average":
            r2 = sum(scores) / len(scores)
        elif self.class_aggregation == "variance_weighted_average":
            r2 = sum(t * r for t, r in zip(totals, scores)) / sum(totals)
        else:
            r2 = scores
        p = self.num_regressors
        if p and n - 1 <= p:
            warnings.warn("Adjusted R2 needs more samples than num_regressors + 1; the standard R2 is returned.",
                          RuntimeWarning, stacklevel=2)
        elif p:
            adjust = (n - 1.0) / (n - p - 1.0)
            r2 = [1.0 - (1.0 - r) * adjust for r in r2] if isinstance(r2, list) else 1.0 - (1.0 - r2) * adjust
        return r2

    def get_config(self):
        return {**super().get_config(), "class_aggregation": self.class_aggregation,
                "num_regressors": self.num_regressors}


class PearsonCorrelation(Metric):
    """The mean over samples of each sample's Pearson correlation between its targets and
    predictions along ``axis`` (Keras 3's metric: per sample, not over the batch)."""

    def __init__(self, axis: int = -1, name=None):
        self.axis = axis
        super().__init__(name)

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        t = y_true - xp.mean(y_true, axis=self.axis, keepdims=True)
        p = y_pred - xp.mean(y_pred, axis=self.axis, keepdims=True)
        t = t / xp.std(t, axis=self.axis, keepdims=True)
        p = p / xp.std(p, axis=self.axis, keepdims=True)
        return xp.mean(t * p, axis=self.axis)

    def get_config(self):
        return {**super().get_config(), "axis": self.axis}


class ConcordanceCorrelation(PearsonCorrelation):
    """The mean over samples of each sample's concordance correlation (Lin) along ``axis``:
    ``2 cov / (var_t + var_p + (mean_t - mean_p)^2 + epsilon)``, Keras 3's formula."""

    def values(self, y_true, y_pred):
        xp = array_namespace(y_pred)
        mean_t = xp.mean(y_true, axis=self.axis, keepdims=True)
        mean_p = xp.mean(y_pred, axis=self.axis, keepdims=True)
        var_t = xp.var(y_true - mean_t, axis=self.axis, keepdims=True)
        var_p = xp.var(y_pred - mean_p, axis=self.axis, keepdims=True)
        covariance = (y_true - mean_p) * (y_pred - mean_p)  # Keras's form: its mean is the covariance
        norm = var_t + var_p + (mean_t - mean_p) ** 2
        return xp.mean(2.0 * covariance / (norm + 1e-7), axis=self.axis)


class IoU(_DeviceSums):
    """Intersection over union from a weighted confusion matrix ``(num_classes, num_classes)``
    kept on the device (Keras 3's metric): per class in ``target_class_ids``, ``tp / (tp + fp
    + fn)``, averaged over the classes that occur. Targets and predictions are class ids
    (``sparse_y_true``/``sparse_y_pred``), or scores whose arg-max along ``axis`` is taken;
    ids outside ``[0, num_classes)`` and ``ignore_class`` count for nothing. Sample weights
    are used as floats (Keras 3.15 casts them to ints by default)."""

    SUMS = ("confusion",)

    def __init__(self, num_classes: int, target_class_ids, name=None, ignore_class: int | None = None,
                 sparse_y_true: bool = True, sparse_y_pred: bool = True, axis: int = -1):
        if not all(0 <= int(c) < num_classes for c in target_class_ids):
            raise ValueError(f"target_class_ids must be in [0, num_classes={num_classes}). "
                             f"Received: target_class_ids={list(target_class_ids)}")
        self.num_classes, self.target_class_ids = num_classes, [int(c) for c in target_class_ids]
        self.ignore_class, self.sparse_y_true, self.sparse_y_pred, self.axis = (ignore_class, sparse_y_true,
                                                                                 sparse_y_pred, axis)
        super().__init__(name)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        xp = array_namespace(y_pred)
        dtype = y_pred.dtype if xp.isdtype(y_pred.dtype, "real floating") else xp.float32
        if not self.sparse_y_true:
            y_true = xp.argmax(y_true, axis=self.axis)
        if not self.sparse_y_pred:
            y_pred = xp.argmax(y_pred, axis=self.axis)
        true, predicted = (xp.reshape(xp.astype(a, xp.int64), (-1,)) for a in (y_true, y_pred))
        weights = (xp.ones(true.shape, dtype=dtype, device=array_device(true)) if sample_weight is None
                   else xp.broadcast_to(xp.reshape(xp.astype(sample_weight, dtype), (-1,)), true.shape))
        valid = (true >= 0) & (true < self.num_classes) & (predicted >= 0) & (predicted < self.num_classes)
        if self.ignore_class is not None:
            valid = valid & (true != self.ignore_class)
        classes = xp.arange(self.num_classes, device=array_device(true))
        true_one_hot = xp.astype(true[:, None] == classes, dtype)
        predicted_one_hot = xp.astype(predicted[:, None] == classes, dtype) * xp.where(valid, weights, 0.0)[:, None]
        self.counts["confusion"] = self.counts["confusion"] + true_one_hot.T @ predicted_one_hot  # rows: true

    def result(self) -> float:
        n = self.num_classes
        flat = _as_list(self.counts["confusion"])
        matrix = [flat[i * n:(i + 1) * n] for i in range(n)] if len(flat) == n * n else [[0.0] * n] * n
        ious, valid = [], 0
        for c in self.target_class_ids:
            tp = matrix[c][c]
            denominator = sum(matrix[c]) + sum(row[c] for row in matrix) - tp
            valid += denominator > 1e-9
            ious.append(tp / (denominator + 1e-7))
        return sum(ious) / (valid + 1e-7)

    def get_config(self):
        return {**super().get_config(), "num_classes": self.num_classes, "target_class_ids": self.target_class_ids,
                "ignore_class": self.ignore_class, "sparse_y_true": self.sparse_y_true,
                "sparse_y_pred": self.sparse_y_pred, "axis": self.axis}


class MeanIoU(IoU):
    """`IoU` averaged over every class."""

    def __init__(self, num_classes: int, name=None, ignore_class: int | None = None, sparse_y_true: bool = True,
                 sparse_y_pred: bool = True, axis: int = -1):
        super().__init__(num_classes, range(num_classes), name, ignore_class, sparse_y_true, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["target_class_ids"]
        return config


class OneHotIoU(IoU):
    """`IoU` of one-hot targets and class scores (their arg-max along ``axis``)."""

    def __init__(self, num_classes: int, target_class_ids, name=None, ignore_class: int | None = None,
                 sparse_y_pred: bool = False, axis: int = -1):
        super().__init__(num_classes, target_class_ids, name, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class OneHotMeanIoU(MeanIoU):
    """`MeanIoU` of one-hot targets and class scores (their arg-max along ``axis``)."""

    def __init__(self, num_classes: int, name=None, ignore_class: int | None = None, sparse_y_pred: bool = False,
                 axis: int = -1):
        super().__init__(num_classes, name, ignore_class, False, sparse_y_pred, axis)

    def get_config(self):
        config = super().get_config()
        del config["sparse_y_true"]
        return config


class BinaryIoU(IoU):
    """`IoU` of binary targets and probabilities, positive at ``threshold`` or above, over the
    ``target_class_ids`` among 0 and 1."""

    def __init__(self, target_class_ids=(0, 1), threshold: float = 0.5, name=None):
        self.threshold = threshold
        super().__init__(2, target_class_ids, name)

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        xp = array_namespace(y_pred)
        super().update_state(y_true, xp.astype(y_pred >= self.threshold, y_pred.dtype), sample_weight)

    def get_config(self):
        return {"name": self.name, "target_class_ids": self.target_class_ids, "threshold": self.threshold}


class LossMetric(Metric):
    """The running weighted mean of a loss's per-sample values: Keras's metrics named after
    losses (``metrics=["mape"]``, ``BinaryCrossentropy(from_logits=True)``); the keyword
    arguments are the loss's."""

    loss_class: type[losses.Loss]
    sign = 1.0

    def __init__(self, name=None, **loss_arguments):
        self.loss = self.loss_class(**loss_arguments)
        self.sparse = self.loss.sparse
        self.loss_arguments = loss_arguments
        super().__init__(name)

    def values(self, y_true, y_pred):
        values = self.loss.per_sample(y_true, y_pred)[0]
        return values if self.sign == 1.0 else self.sign * values

    def get_config(self):
        return {**super().get_config(), **self.loss_arguments}


def _loss_metric(loss_class: type[losses.Loss], name: str | None = None, sign: float = 1.0) -> type[LossMetric]:
    """The `LossMetric` class of ``loss_class``, named as it unless Keras names it otherwise."""
    return type(name or loss_class.__name__, (LossMetric,),
                {"loss_class": loss_class, "sign": sign, "__doc__": f"The mean of `losses.{loss_class.__name__}`."})


MeanAbsolutePercentageError = _loss_metric(losses.MeanAbsolutePercentageError)
MeanSquaredLogarithmicError = _loss_metric(losses.MeanSquaredLogarithmicError)
LogCoshError = _loss_metric(losses.LogCosh, "LogCoshError")
CosineSimilarity = _loss_metric(losses.CosineSimilarity, sign=-1.0)  # the metric is +cos, the loss -cos
BinaryCrossentropy = _loss_metric(losses.BinaryCrossentropy)
CategoricalCrossentropy = _loss_metric(losses.CategoricalCrossentropy)
SparseCategoricalCrossentropy = _loss_metric(losses.SparseCategoricalCrossentropy)
KLDivergence = _loss_metric(losses.KLDivergence)
Poisson = _loss_metric(losses.Poisson)
Hinge = _loss_metric(losses.Hinge)
SquaredHinge = _loss_metric(losses.SquaredHinge)
CategoricalHinge = _loss_metric(losses.CategoricalHinge)


class ConfusionMetric(Metric):
    """Metrics from weighted confusion counts over every output entry at decision
    ``thresholds`` (a prediction above a threshold counts as positive); with ``class_id``
    only that column of ``(batch, classes)`` outputs. The counts stay on the device."""

    uses_output_mask = False

    def __init__(self, thresholds=None, class_id: int | None = None, name=None):
        self.thresholds = self.default_thresholds() if thresholds is None else thresholds
        self.class_id = class_id
        super().__init__(name)

    def default_thresholds(self):
        return 0.5

    def threshold_values(self) -> list[float]:
        return [float(t) for t in (self.thresholds if isinstance(self.thresholds, (list, tuple)) else [self.thresholds])]

    def reset_state(self) -> None:
        self.counts: dict[str, Any] = {name: 0.0 for name in ("tp", "fp", "tn", "fn")}

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        xp = array_namespace(y_pred)
        y_true = align_targets(y_true, y_pred)
        if self.class_id is not None:
            y_true, y_pred = y_true[..., self.class_id], y_pred[..., self.class_id]
        weights = (xp.ones_like(y_pred) if sample_weight is None
                   else xp.broadcast_to(weights_like(xp, sample_weight, y_pred), y_pred.shape))
        labels, weights = xp.reshape(y_true, (-1,)), xp.reshape(weights, (-1,))
        thresholds = xp.asarray(self.threshold_values(), dtype=y_pred.dtype, device=array_device(y_pred))
        above = xp.astype(xp.reshape(y_pred, (1, -1)) > thresholds[:, None], y_pred.dtype)  # (thresholds, entries)
        positive, negative = labels * weights, (1.0 - labels) * weights
        below = 1.0 - above
        # Each count summed on its own (not a total minus another count): a count with no
        # entries is exactly 0, so a rate of exactly 1 stays exactly 1.
        increments = {"tp": above @ positive, "fp": above @ negative, "fn": below @ positive, "tn": below @ negative}
        for name, increment in increments.items():
            count = self.counts[name]
            if isinstance(count, list):  # summed host counts (set_host_state): back to the device
                count = xp.asarray(count, dtype=increment.dtype, device=array_device(increment))
            self.counts[name] = count + increment

    def result(self):
        values = self.from_counts(*(self.host_counts(name) for name in ("tp", "fp", "tn", "fn")))
        return values[0] if not isinstance(self.thresholds, (list, tuple)) else values

    def host_counts(self, name: str) -> list[float]:
        """One count per threshold, read from the device."""
        count = self.counts[name]
        if isinstance(count, float):  # nothing seen yet
            return [0.0] * len(self.threshold_values())
        return _as_list(count)

    def host_state(self) -> list[float]:
        return [c for name in ("tp", "fp", "tn", "fn") for c in self.host_counts(name)]

    def set_host_state(self, values: list[float]) -> None:
        size = len(self.threshold_values())
        for k, name in enumerate(("tp", "fp", "tn", "fn")):
            self.counts[name] = [float(v) for v in values[k * size:(k + 1) * size]]

    def from_counts(self, tp, fp, tn, fn) -> list[float]:
        raise NotImplementedError

    def get_config(self):
        return {**super().get_config(), "thresholds": self.thresholds, "class_id": self.class_id}


def _ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator else 0.0


class Precision(ConfusionMetric):
    """``tp / (tp + fp)`` at ``thresholds`` (default 0.5; a list gives a list of results)."""

    def from_counts(self, tp, fp, tn, fn):
        return _precisions(tp, fp)


class Recall(ConfusionMetric):
    """``tp / (tp + fn)`` at ``thresholds`` (default 0.5; a list gives a list of results)."""

    def from_counts(self, tp, fp, tn, fn):
        return _recalls(tp, fn)


class _Count(ConfusionMetric):
    """One of the confusion counts, weighted, at ``thresholds``."""

    count: str

    def from_counts(self, tp, fp, tn, fn):
        return list({"tp": tp, "fp": fp, "tn": tn, "fn": fn}[self.count])


class TruePositives(_Count):
    """The (weighted) number of positive targets predicted above the threshold."""

    count = "tp"


class FalsePositives(_Count):
    """The (weighted) number of negative targets predicted above the threshold."""

    count = "fp"


class TrueNegatives(_Count):
    """The (weighted) number of negative targets predicted at or below the threshold."""

    count = "tn"


class FalseNegatives(_Count):
    """The (weighted) number of positive targets predicted at or below the threshold."""

    count = "fn"


class AUC(ConfusionMetric):
    """The area under the ROC (or, with ``curve="PR"``, the precision-recall) curve, from
    confusion counts at ``num_thresholds`` thresholds, Keras's rules: thresholds ``i /
    (num_thresholds - 1)`` plus ``-1e-7`` and ``1 + 1e-7`` at the ends. ``summation_method``:
    "interpolation" (the ROC area by the trapezoidal rule, the PR area by Davis & Goadrich's
    interpolation), "minoring" or "majoring" (rectangles under the lower or upper of each
    pair of neighbouring points)."""

    def __init__(self, num_thresholds: int = 200, curve: str = "ROC", summation_method: str = "interpolation",
                 name=None, thresholds=None, class_id: int | None = None):
        """``thresholds`` (a list in (0, 1)) replaces the evenly spaced ones; as Keras, the end
        points ``-1e-7`` and ``1 + 1e-7`` are added and ``num_thresholds`` follows."""
        if curve.upper() not in ("ROC", "PR"):
            raise ValueError(f"AUC: curve must be 'ROC' or 'PR'. Received: curve={curve!r}")
        if summation_method not in ("interpolation", "minoring", "majoring"):
            raise ValueError("AUC: summation_method must be 'interpolation', 'minoring' or 'majoring'. "
                             f"Received: summation_method={summation_method!r}")
        self.summation_method = summation_method
        if thresholds is not None:
            num_thresholds = len(thresholds) + 2
        if num_thresholds < 2:
            raise ValueError(f"AUC: num_thresholds must be at least 2. Received: num_thresholds={num_thresholds}")
        self.num_thresholds, self.curve = num_thresholds, curve.upper()
        self.given_thresholds = None if thresholds is None else [float(t) for t in thresholds]
        super().__init__(None, class_id, name)

    def default_thresholds(self):
        inner = self.given_thresholds or [(i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)]
        return [0.0 - 1e-7, *inner, 1.0 + 1e-7]

    def result(self) -> float:
        tp, fp, tn, fn = (self.host_counts(name) for name in ("tp", "fp", "tn", "fn"))
        if self.curve == "PR" and self.summation_method == "interpolation":
            return _pr_auc(tp, fp, fn)
        recall = [_ratio(t, t + f) for t, f in zip(tp, fn)]
        if self.curve == "ROC":  # x the false-positive rate, y the recall
            x, y = [_ratio(f, f + t) for f, t in zip(fp, tn)], recall
        else:  # x the recall, y the precision
            x, y = recall, [_ratio(t, t + f) for t, f in zip(tp, fp)]
        height = {"interpolation": lambda a, b: (a + b) / 2.0, "minoring": min, "majoring": max}[self.summation_method]
        return sum((x[i] - x[i + 1]) * height(y[i], y[i + 1]) for i in range(len(x) - 1))

    def get_config(self):
        config = super().get_config()
        config["thresholds"] = self.given_thresholds  # the end points follow, as num_thresholds
        return {**config, "num_thresholds": self.num_thresholds, "curve": self.curve,
                "summation_method": self.summation_method}


class _AtConstraint(ConfusionMetric):
    """Keras's ``SensitivitySpecificityBase``: the best value of one rate among the thresholds
    where another rate reaches ``value`` (0.0 when none does), over ``num_thresholds``
    thresholds ``0, 1 / (num_thresholds - 1), ..., 1`` (0.5 alone for ``num_thresholds=1``)."""

    value_name: str  # the constructor's argument: "recall", "precision", "specificity"...

    def __init__(self, value: float | None = None, num_thresholds: int = 200, class_id: int | None = None,
                 name=None, **named):
        # Keras's keyword is the rate's own name: PrecisionAtRecall(recall=0.8).
        title = type(self).__name__
        value = named.pop(self.value_name, value)
        if named:
            raise TypeError(f"{title} got unexpected keyword argument(s): {sorted(named)}.")
        if value is None:
            raise TypeError(f"{title} needs {self.value_name}= (the rate to reach, in [0, 1]).")
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{title}: {self.value_name} must be in [0, 1]. Received: {self.value_name}={value!r}")
        if not isinstance(num_thresholds, int) or num_thresholds <= 0:
            raise ValueError(f"{title}: num_thresholds must be a positive integer. "
                             f"Received: num_thresholds={num_thresholds!r}")
        self.value, self.num_thresholds = float(value), num_thresholds
        super().__init__(None, class_id, name)

    def default_thresholds(self):
        if self.num_thresholds == 1:
            return [0.5]
        return [0.0, *((i + 1) / (self.num_thresholds - 1) for i in range(self.num_thresholds - 2)), 1.0]

    def rates(self, tp: list, fp: list, tn: list, fn: list) -> tuple[list, list]:
        """(constrained, dependent): one value each per threshold."""
        raise NotImplementedError

    def result(self) -> float:
        constrained, dependent = self.rates(*(self.host_counts(name) for name in ("tp", "fp", "tn", "fn")))
        return max([d for c, d in zip(constrained, dependent) if c >= self.value], default=0.0)

    def get_config(self):
        config = {k: v for k, v in super().get_config().items() if k != "thresholds"}
        return {**config, self.value_name: self.value, "num_thresholds": self.num_thresholds}


def _recalls(tp, fn) -> list:
    return [_ratio(t, t + f) for t, f in zip(tp, fn)]


def _precisions(tp, fp) -> list:
    return [_ratio(t, t + f) for t, f in zip(tp, fp)]


def _specificities(tn, fp) -> list:
    return [_ratio(t, t + f) for t, f in zip(tn, fp)]


class SensitivityAtSpecificity(_AtConstraint):
    """The best sensitivity (recall) where the specificity is at least ``specificity``."""

    value_name = "specificity"

    def rates(self, tp, fp, tn, fn):
        return _specificities(tn, fp), _recalls(tp, fn)


class SpecificityAtSensitivity(_AtConstraint):
    """The best specificity where the sensitivity (recall) is at least ``sensitivity``."""

    value_name = "sensitivity"

    def rates(self, tp, fp, tn, fn):
        return _recalls(tp, fn), _specificities(tn, fp)


class PrecisionAtRecall(_AtConstraint):
    """The best precision where the recall is at least ``recall``."""

    value_name = "recall"

    def rates(self, tp, fp, tn, fn):
        return _recalls(tp, fn), _precisions(tp, fp)


class RecallAtPrecision(_AtConstraint):
    """The best recall where the precision is at least ``precision``."""

    value_name = "precision"

    def rates(self, tp, fp, tn, fn):
        return _precisions(tp, fp), _recalls(tp, fn)


def _pr_auc(tp: list, fp: list, fn: list) -> float:
    """Davis & Goadrich's precision-recall area between neighbouring thresholds: precision
    interpolated linearly in the true positives (Keras's ``interpolate_pr_auc``)."""
    area = 0.0
    for i in range(len(tp) - 1):
        dtp = tp[i] - tp[i + 1]
        predicted, next_predicted = tp[i] + fp[i], tp[i + 1] + fp[i + 1]
        dp = max(predicted - next_predicted, 0.0)
        slope = _ratio(dtp, dp)
        intercept = tp[i + 1] - slope * next_predicted
        ratio = _ratio(predicted, max(next_predicted, 0.0)) if predicted > 0 and next_predicted > 0 else 1.0
        area += _ratio(slope * (dtp + intercept * math.log(ratio)), max(tp[i + 1] + fn[i + 1], 0.0))
    return area


_BY_NAME = {
    "binary_accuracy": BinaryAccuracy,
    "categorical_accuracy": CategoricalAccuracy,
    "sparse_categorical_accuracy": SparseCategoricalAccuracy,
    "mean_squared_error": MeanSquaredError, "mse": MeanSquaredError,
    "mean_absolute_error": MeanAbsoluteError, "mae": MeanAbsoluteError,
    "root_mean_squared_error": RootMeanSquaredError, "precision": Precision, "recall": Recall, "auc": AUC,
    "top_k_categorical_accuracy": TopKCategoricalAccuracy,
    "sparse_top_k_categorical_accuracy": SparseTopKCategoricalAccuracy,
    "mean_absolute_percentage_error": MeanAbsolutePercentageError, "mape": MeanAbsolutePercentageError,
    "mean_squared_logarithmic_error": MeanSquaredLogarithmicError, "msle": MeanSquaredLogarithmicError,
    "logcosh": LogCoshError, "cosine_similarity": CosineSimilarity, "binary_crossentropy": BinaryCrossentropy,
    "categorical_crossentropy": CategoricalCrossentropy,
    "sparse_categorical_crossentropy": SparseCategoricalCrossentropy, "kl_divergence": KLDivergence,
    "poisson": Poisson, "hinge": Hinge, "squared_hinge": SquaredHinge, "categorical_hinge": CategoricalHinge,
    "true_positives": TruePositives, "false_positives": FalsePositives, "true_negatives": TrueNegatives,
    "false_negatives": FalseNegatives, "f1_score": F1Score, "fbeta_score": FBetaScore, "r2_score": R2Score,
    "pearson_correlation": PearsonCorrelation, "concordance_correlation": ConcordanceCorrelation,
    "io_u": IoU, "mean_io_u": MeanIoU, "one_hot_io_u": OneHotIoU, "one_hot_mean_io_u": OneHotMeanIoU,
    "binary_io_u": BinaryIoU,
}
_NAME_OF = {
    Accuracy: "accuracy", BinaryAccuracy: "binary_accuracy", CategoricalAccuracy: "categorical_accuracy",
    SparseCategoricalAccuracy: "sparse_categorical_accuracy",
    MeanSquaredError: "mean_squared_error", MeanAbsoluteError: "mean_absolute_error", Mean: "mean",
    RootMeanSquaredError: "root_mean_squared_error", Precision: "precision", Recall: "recall", AUC: "auc",
    TopKCategoricalAccuracy: "top_k_categorical_accuracy",
    SparseTopKCategoricalAccuracy: "sparse_top_k_categorical_accuracy",
    MeanAbsolutePercentageError: "mean_absolute_percentage_error",
    MeanSquaredLogarithmicError: "mean_squared_logarithmic_error", LogCoshError: "logcosh",
    CosineSimilarity: "cosine_similarity", BinaryCrossentropy: "binary_crossentropy",
    CategoricalCrossentropy: "categorical_crossentropy", SparseCategoricalCrossentropy: "sparse_categorical_crossentropy",
    KLDivergence: "kl_divergence", Poisson: "poisson", Hinge: "hinge", SquaredHinge: "squared_hinge",
    CategoricalHinge: "categorical_hinge", TruePositives: "true_positives", FalsePositives: "false_positives",
    TrueNegatives: "true_negatives", FalseNegatives: "false_negatives", F1Score: "f1_score", FBetaScore: "fbeta_score",
    R2Score: "r2_score", PearsonCorrelation: "pearson_correlation", ConcordanceCorrelation: "concordance_correlation",
    IoU: "io_u", MeanIoU: "mean_io_u", OneHotIoU: "one_hot_io_u", OneHotMeanIoU: "one_hot_mean_io_u",
    BinaryIoU: "binary_io_u", PrecisionAtRecall: "precision_at_recall", RecallAtPrecision: "recall_at_precision",
    SensitivityAtSpecificity: "sensitivity_at_specificity", SpecificityAtSensitivity: "specificity_at_sensitivity",
}
# Keras also takes class names: metrics=["AUC", "Precision"], logged as "auc", "precision".
_BY_CLASS_NAME = {cls.__name__: cls for cls in _NAME_OF}
_ACCURACY_FOR_LOSS = {
    "binary_crossentropy": BinaryAccuracy,
    "categorical_crossentropy": CategoricalAccuracy,
    "sparse_categorical_crossentropy": SparseCategoricalAccuracy,
}


class OutputMetric(Metric):
    """``metric`` on one output of a model with several: `update_state` takes the tuples of
    targets and predictions and passes on their entry ``index``; logged as
    ``<output>_<metric>``, as Keras."""

    def __init__(self, metric: Metric, index: int, output_name: str, name: str | None = None):
        self.metric = metric
        self.index = index
        self.output_name = output_name
        self.name = name or f"{output_name}_{metric.name}"

    @classmethod
    def for_outputs(cls, metrics: Any, output_names: list[str], loss_names: list[str]) -> list["OutputMetric"]:
        """Keras's ``metrics`` for several outputs: a dict by output name or a list with one
        entry per output (in output order): a metric, a list of them, or None; ``"accuracy"``
        fits each output's loss. Already routed metrics (a loaded model's) stay as they are."""
        if not metrics:
            return []
        if isinstance(metrics, (list, tuple)) and all(isinstance(m, OutputMetric) for m in metrics):
            return list(metrics)
        if isinstance(metrics, dict):
            unknown = sorted(set(metrics) - set(output_names))
            if unknown:
                raise ValueError(f"compile(): metrics name {unknown}, which are not outputs; the outputs are "
                                 f"{output_names}.")
            per_output = [metrics.get(name) for name in output_names]
        elif isinstance(metrics, (list, tuple)) and len(metrics) == len(output_names):
            per_output = list(metrics)  # an entry per output: a metric, a list of them, or None
        else:
            raise ValueError(
                f"compile(): for a model with {len(output_names)} outputs {output_names}, give metrics as a dict "
                f"by output name or a list with one entry (a metric or a list of them) per output, e.g. "
                f"{{{output_names[0]!r}: ['accuracy']}}; received {metrics!r}."
            )
        routed = []
        for index, (name, chosen, loss_name) in enumerate(zip(output_names, per_output, loss_names)):
            for metric in [chosen] if isinstance(chosen, (str, Metric)) else chosen or []:
                routed.append(cls(get(metric, loss_name), index, name))
        return routed

    def takes_output_mask(self) -> bool:
        return self.metric.takes_output_mask()

    def update_state(self, y_true, y_pred, sample_weight=None) -> None:
        """``sample_weight``: one for all outputs, or a tuple with one per output."""
        weight = sample_weight[self.index] if isinstance(sample_weight, tuple) else sample_weight
        self.metric.update_state(y_true[self.index], y_pred[self.index], weight)

    def reset_state(self) -> None:
        self.metric.reset_state()

    def result(self) -> float:
        return self.metric.result()

    def host_state(self) -> list[float]:
        return self.metric.host_state()

    def set_host_state(self, values: list[float]) -> None:
        self.metric.set_host_state(values)

    def get_config(self) -> dict:
        from deepcore.saving import serialize_object

        return {"metric": serialize_object(self.metric, "metric"), "index": self.index,
                "output_name": self.output_name, "name": self.name}

    @classmethod
    def from_config(cls, config_: dict) -> "OutputMetric":
        from deepcore.saving import deserialize_object

        return cls(deserialize_object(config_["metric"], "metric"), config_["index"], config_["output_name"],
                   config_["name"])


def get(identifier: str | Metric, loss_name: str | None = None) -> Metric:
    """Resolve a metric. ``"accuracy"``/``"acc"`` picks the accuracy that fits the loss, as Keras."""
    if isinstance(identifier, Metric):
        return identifier
    if identifier in ("accuracy", "acc"):
        cls = _ACCURACY_FOR_LOSS.get(loss_name or "", CategoricalAccuracy)
        return cls(name=identifier)
    if isinstance(identifier, str):
        if identifier in _BY_CLASS_NAME:
            return _BY_CLASS_NAME[identifier]()
        cls = _BY_NAME.get(identifier)
        if cls is None:
            valid = ", ".join(sorted(_BY_NAME) + ["accuracy"] + sorted(_BY_CLASS_NAME))
            raise ValueError(f"Unknown metric {identifier!r}. Valid metrics: {valid}.")
        return cls(name=identifier)
    raise TypeError(f"Cannot interpret {identifier!r} as a metric.")
