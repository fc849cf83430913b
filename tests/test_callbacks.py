"""Callbacks: EarlyStopping, ModelCheckpoint, ReduceLROnPlateau, LearningRateScheduler,
TerminateOnNaN, CSVLogger and the progress display, driven through `fit`.

Monitored sequences are made deterministic by `Inject`, a callback placed before the one under
test that overwrites a log entry with a given value per epoch (callbacks run in list order).
"""

import csv
import math
import os

import numpy as np
import pytest

import deepcore as dc
from deepcore.callbacks import (
    Callback,
    CSVLogger,
    EarlyStopping,
    LearningRateScheduler,
    ModelCheckpoint,
    ProgbarLogger,
    ReduceLROnPlateau,
    TerminateOnNaN,
)
from deepcore.callbacks.progbar import format_value
from deepcore.layers import Dense
from deepcore.models import Sequential
from deepcore.optimizers import SGD, schedules

F32_EPS = float(np.finfo(np.float32).eps)


class Inject(Callback):
    """Sets ``logs[key] = values[epoch]`` at each epoch end."""

    def __init__(self, values, key="val_loss"):
        super().__init__()
        self.values, self.key = list(values), key

    def on_epoch_end(self, epoch, logs=None):
        logs[self.key] = self.values[epoch]


class Snapshots(Callback):
    """The model's weights at the end of every epoch."""

    def __init__(self):
        super().__init__()
        self.weights = []

    def on_epoch_end(self, epoch, logs=None):
        self.weights.append(self.model.get_weights())


class BatchRecorder(Callback):
    def __init__(self):
        super().__init__()
        self.batches = []

    def on_train_batch_end(self, batch, logs=None):
        self.batches.append(batch)


def data(n=16, features=3, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features))
    return x, x @ rng.normal(size=features) + 0.1 * rng.normal(size=n)


def model(learning_rate=0.05, features=3):
    net = Sequential([Dense(4, activation="tanh", input_shape=(features,)), Dense(1)])
    net.compile(optimizer=SGD(learning_rate), loss="mse")
    return net


def fit(net, epochs, callbacks, **kwargs):
    x, y = data()
    return net.fit(x, y, epochs=epochs, batch_size=4, verbose=0, callbacks=callbacks, **kwargs)


def assert_same_weights(got, want):
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)


def assert_different_weights(got, want):
    assert any(not np.array_equal(g, w) for g, w in zip(got, want, strict=True))


# --- EarlyStopping -----------------------------------------------------------------------

def test_early_stopping_stops_after_patience_and_restores_the_best_epoch(backend):
    net, snapshots = model(), Snapshots()
    # best at epoch 2; epochs 3 and 4 do not improve -> with patience 2, stop at epoch 4
    stopper = EarlyStopping(patience=2, restore_best_weights=True)
    history = fit(net, 20, [Inject([5.0, 4.0, 3.0, 3.5, 3.2, 1.0, 0.5]), snapshots, stopper])
    assert history.epoch == [0, 1, 2, 3, 4]
    assert history.history["val_loss"] == [5.0, 4.0, 3.0, 3.5, 3.2]
    assert (stopper.stopped_epoch, stopper.best_epoch, stopper.best) == (4, 2, 3.0)
    assert_different_weights(snapshots.weights[4], snapshots.weights[2])  # training moved them
    assert_same_weights(net.get_weights(), snapshots.weights[2])


def test_early_stopping_without_restore_keeps_the_last_weights(backend):
    net, snapshots = model(), Snapshots()
    fit(net, 20, [Inject([3.0, 4.0, 5.0]), snapshots, EarlyStopping(patience=1)])
    assert len(snapshots.weights) == 2
    assert_same_weights(net.get_weights(), snapshots.weights[1])


def test_early_stopping_restores_best_weights_even_when_it_never_stops(backend):
    # Keras 3 restores at the end of training whenever a best epoch was recorded.
    net, snapshots = model(), Snapshots()
    stopper = EarlyStopping(patience=10, restore_best_weights=True)
    history = fit(net, 3, [Inject([3.0, 1.0, 2.0]), snapshots, stopper])
    assert len(history.epoch) == 3 and stopper.stopped_epoch == 0
    assert_same_weights(net.get_weights(), snapshots.weights[1])


def test_early_stopping_min_delta():
    # 0.95 and 0.92 improve on 1.0 by less than 0.1: no improvement, stop at epoch 1
    stopper = EarlyStopping(min_delta=0.1, patience=1)
    history = fit(model(), 10, [Inject([1.0, 0.95, 0.92, 0.5]), stopper])
    assert len(history.epoch) == 2 and stopper.stopped_epoch == 1
    # with min_delta 0.01 they are improvements, and 0.5 too: no stop in 4 epochs
    history = fit(model(), 4, [Inject([1.0, 0.95, 0.92, 0.5]), EarlyStopping(min_delta=0.01, patience=1)])
    assert len(history.epoch) == 4


@pytest.mark.parametrize("monitor, mode", [("val_accuracy", "auto"), ("val_score", "max")])
def test_early_stopping_maximizes_accuracy_and_mode_max(monitor, mode):
    stopper = EarlyStopping(monitor=monitor, mode=mode, patience=1)
    history = fit(model(), 10, [Inject([0.5, 0.7, 0.9, 0.8, 0.95], key=monitor), stopper])
    assert stopper.direction == "max"
    assert len(history.epoch) == 4 and stopper.best == 0.9


def test_early_stopping_baseline_must_be_beaten_to_reset_the_wait():
    # 0.5 is the best seen but never beats the baseline 0.4: the wait grows 1, 2 -> stop.
    stopper = EarlyStopping(baseline=0.4, patience=2, restore_best_weights=True)
    history = fit(model(), 10, [Inject([0.5, 0.6, 0.45, 0.3]), stopper])
    assert len(history.epoch) == 2 and stopper.best_epoch == 0


def test_early_stopping_start_from_epoch_ignores_the_warmup():
    stopper = EarlyStopping(monitor="loss", patience=0, start_from_epoch=3)
    history = fit(model(), 10, [Inject([1.0, 2.0, 3.0, 4.0, 5.0, 6.0], key="loss"), stopper])
    assert history.epoch == [0, 1, 2, 3, 4] and stopper.stopped_epoch == 4


def test_early_stopping_instances_are_reusable():
    stopper = EarlyStopping(patience=1)
    fit(model(), 10, [Inject([1.0, 2.0]), stopper])
    history = fit(model(), 10, [Inject([3.0, 2.0, 1.0, 1.5]), stopper])
    assert len(history.epoch) == 4 and stopper.best == 1.0


def test_early_stopping_on_real_validation_loss(backend):
    """The restored model's validation loss is the best recorded one: evaluate runs the same
    batches through the same weights as fit's validation pass (8 float32 eps relative margin
    for a possibly different summation order)."""
    x, y = data(n=40)
    net = model(learning_rate=0.2)
    stopper = EarlyStopping(patience=3, restore_best_weights=True)
    history = net.fit(x, y, epochs=200, batch_size=4, validation_split=0.25, verbose=0,
                      callbacks=[stopper])
    val_loss = history.history["val_loss"]
    best = int(np.argmin(val_loss))
    assert stopper.best_epoch == best and stopper.best == val_loss[best]
    assert len(val_loss) == best + 4 or len(val_loss) == 200
    restored = net.evaluate(x[30:], y[30:], batch_size=4, verbose=0)
    assert math.isclose(restored, val_loss[best], rel_tol=8 * F32_EPS)


def test_missing_monitor_warns_and_changes_nothing():
    with pytest.warns(UserWarning, match="'val_loss', which is not in the logs. Available: loss"):
        history = fit(model(), 3, [EarlyStopping(patience=0)])
    assert len(history.epoch) == 3


@pytest.mark.parametrize("monitor, direction", [
    ("val_loss", "min"), ("loss", "min"), ("val_accuracy", "max"), ("binary_accuracy", "max"),
    ("val_auc", "max"), ("val_mean_absolute_error", "min"), ("mse", "min"), ("accuracy_loss", "min"),
])
def test_auto_mode_infers_the_direction_from_the_name(monitor, direction):
    assert EarlyStopping(monitor=monitor).direction == direction
    assert ModelCheckpoint("m.deepcore", monitor=monitor).direction == direction


def test_unknown_direction_and_mode():
    with pytest.raises(ValueError, match="mode='max'"):
        EarlyStopping(monitor="val_something")
    with pytest.warns(UserWarning, match="mode 'biggest' is unknown"):
        assert EarlyStopping(mode="biggest").direction == "min"
    assert ReduceLROnPlateau(monitor="val_something").direction == "min"  # Keras's fallback there


# --- ModelCheckpoint ---------------------------------------------------------------------

class Recorder:
    """Replaces ``model.save`` / ``model.save_weights`` on one model: records the calls and
    writes a marker file, so the checks do not depend on the file format."""

    def __init__(self, net):
        self.calls = []
        net.save = lambda path, overwrite=True: self._write("save", path)
        net.save_weights = lambda path, overwrite=True: self._write("save_weights", path)

    def _write(self, kind, path):
        self.calls.append((kind, os.path.basename(path)))
        with open(path, "w") as file:
            file.write(kind)


def test_checkpoint_formats_the_file_name_with_the_1_based_epoch_and_logs(tmp_path):
    net = model()
    recorder = Recorder(net)
    path = tmp_path / "ckpt" / "{epoch:02d}-{val_loss:.2f}.deepcore"
    fit(net, 3, [Inject([0.5, 0.4, 0.6]), ModelCheckpoint(path)])
    assert sorted(os.listdir(tmp_path / "ckpt")) == ["01-0.50.deepcore", "02-0.40.deepcore", "03-0.60.deepcore"]
    assert {kind for kind, _ in recorder.calls} == {"save"}


def test_checkpoint_save_best_only_writes_only_on_improvement(tmp_path):
    net = model()
    recorder = Recorder(net)
    checkpoint = ModelCheckpoint(tmp_path / "{epoch:02d}.deepcore", save_best_only=True)
    fit(net, 5, [Inject([0.5, 0.6, 0.4, 0.45, 0.4]), checkpoint])
    assert sorted(os.listdir(tmp_path)) == ["01.deepcore", "03.deepcore"]
    assert checkpoint.best == 0.4 and len(recorder.calls) == 2


def test_checkpoint_weights_only_max_mode_and_threshold(tmp_path):
    net = model()
    recorder = Recorder(net)
    checkpoint = ModelCheckpoint(tmp_path / "best.weights", monitor="val_accuracy", save_best_only=True,
                                 save_weights_only=True, initial_value_threshold=0.6)
    fit(net, 4, [Inject([0.5, 0.7, 0.65, 0.9], key="val_accuracy"), checkpoint])
    assert recorder.calls == [("save_weights", "best.weights")] * 2  # epochs 2 and 4


def test_checkpoint_by_batches(tmp_path):
    net = model()
    recorder = Recorder(net)
    fit(net, 2, [ModelCheckpoint(tmp_path / "e{epoch}-b{batch}-{loss:.1f}.deepcore", save_freq=3)])
    # 16 samples in batches of 4: 4 batches per epoch, a save every 3rd batch (counting on)
    names = [name.rsplit("-", 1)[0] for _, name in recorder.calls]
    assert names == ["e1-b3", "e2-b2"]


def test_checkpoint_errors(tmp_path):
    with pytest.raises(ValueError, match="save_freq"):
        ModelCheckpoint(tmp_path / "m.deepcore", save_freq="sometimes")
    net = model()
    Recorder(net)
    with pytest.raises(KeyError, match="val_acc"):
        fit(net, 1, [ModelCheckpoint(tmp_path / "{val_acc}.deepcore")])


def test_checkpoint_with_the_real_model_files(tmp_path, backend):
    """save_best_only keeps the best epoch in one file; it loads back with those weights."""
    net, snapshots = model(), Snapshots()
    path = tmp_path / "best.deepcore"
    fit(net, 4, [Inject([0.5, 0.3, 0.4, 0.35]), snapshots, ModelCheckpoint(path, save_best_only=True)])
    assert_same_weights(dc.models.load_model(path).get_weights(), snapshots.weights[1])
    weights_path = tmp_path / "last.weights"
    fit(net, 1, [ModelCheckpoint(weights_path, save_weights_only=True)])
    fresh = model()
    fresh.load_weights(weights_path)
    assert_same_weights(fresh.get_weights(), net.get_weights())


# --- learning rate callbacks ---------------------------------------------------------------

def test_reduce_lr_on_plateau_lowers_the_rate_after_patience(backend):
    net = model(learning_rate=0.1)
    history = fit(net, 6, [Inject([1.0] * 6), ReduceLROnPlateau(factor=0.5, patience=2)])
    # logged: the rate used during each epoch; reductions after epochs 2 and 4
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.1, 0.1, 0.05, 0.05, 0.025],
                               rtol=4 * np.finfo(np.float64).eps)
    assert math.isclose(net.optimizer.learning_rate, 0.025)


def test_reduce_lr_on_plateau_cooldown_min_lr_and_min_delta():
    net = model(learning_rate=0.1)
    # improvements smaller than min_delta=0.1 do not count
    history = fit(net, 7, [Inject([1.0, 0.95, 0.93, 0.91, 0.89, 0.87, 0.6]),
                           ReduceLROnPlateau(factor=0.5, patience=1, cooldown=2, min_delta=0.1,
                                             min_lr=0.03)])
    # epoch 1: reduce to 0.05; epoch 2: no improvement but cooling down; epoch 3: reduce to
    # max(0.025, min_lr); epoch 4 improves on 1.0 by 0.11; epoch 5: no improvement, at min_lr
    np.testing.assert_allclose(history.history["learning_rate"], [0.1, 0.1, 0.05, 0.05, 0.03, 0.03, 0.03],
                               rtol=4 * np.finfo(np.float64).eps)


def test_reduce_lr_on_plateau_errors():
    with pytest.raises(ValueError, match="factor >= 1.0"):
        ReduceLROnPlateau(factor=1.5)
    net = Sequential([Dense(1, input_shape=(3,))])
    net.compile(optimizer=SGD(schedules.ExponentialDecay(0.1, 10, 0.5)), loss="mse")
    with pytest.raises(TypeError, match="cannot be set by a callback"):
        fit(net, 3, [Inject([1.0] * 3), ReduceLROnPlateau(patience=0)])


def test_learning_rate_scheduler_sets_the_rate_each_epoch(backend):
    net = model(learning_rate=0.1)
    history = fit(net, 3, [LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr / 2)])
    assert history.history["learning_rate"] == [0.1, 0.05, 0.025]
    history = fit(net, 3, [LearningRateScheduler(lambda epoch: 0.2 / (epoch + 1))])
    np.testing.assert_allclose(history.history["learning_rate"], [0.2, 0.1, 0.2 / 3], rtol=4 * np.finfo(float).eps)


def test_learning_rate_scheduler_rate_is_the_one_applied(backend):
    net = model(learning_rate=0.1)
    snapshots = Snapshots()
    # rate 0 in epoch 1: the weights must not move in that epoch, and move in the others
    fit(net, 3, [LearningRateScheduler(lambda epoch: 0.0 if epoch == 1 else 0.1), snapshots])
    assert_same_weights(snapshots.weights[1], snapshots.weights[0])
    assert_different_weights(snapshots.weights[2], snapshots.weights[1])


def test_learning_rate_scheduler_needs_a_float():
    with pytest.raises(ValueError, match="should be a float"):
        fit(model(), 1, [LearningRateScheduler(lambda epoch: "fast")])


# --- TerminateOnNaN ------------------------------------------------------------------------

def nan_data():
    """16 samples in batches of 4 (no shuffling): the third batch holds a target of 1e20,
    finite in float32 but whose squared error overflows to inf (fit refuses NaN data)."""
    x, y = data()
    y[9] = 1e20
    return x, y


OVERFLOW_IS_THE_POINT = pytest.mark.filterwarnings("ignore:overflow encountered:RuntimeWarning")


@OVERFLOW_IS_THE_POINT
def test_terminate_on_nan_stops_at_the_bad_batch(backend):
    net, batches = model(), BatchRecorder()
    x, y = nan_data()
    with pytest.warns(RuntimeWarning, match="the loss is (inf|nan)"):  # fit's epoch-level warning
        history = net.fit(x, y, epochs=5, batch_size=4, shuffle=False, verbose=0,
                          callbacks=[TerminateOnNaN(), batches])
    assert batches.batches == [0, 1, 2]
    assert len(history.epoch) == 1


@OVERFLOW_IS_THE_POINT
def test_terminate_on_nan_raise_error(backend):
    x, y = nan_data()
    with pytest.raises(RuntimeError, match="NaN or Inf loss encountered at batch 2"):
        model().fit(x, y, epochs=1, batch_size=4, shuffle=False, verbose=0,
                    callbacks=[TerminateOnNaN(raise_error=True)])


@OVERFLOW_IS_THE_POINT
def test_without_terminate_on_nan_the_epoch_runs_to_its_end():
    net, batches = model(), BatchRecorder()
    x, y = nan_data()
    with pytest.warns(RuntimeWarning, match="the loss is (inf|nan)"):
        net.fit(x, y, epochs=5, batch_size=4, shuffle=False, verbose=0, callbacks=[batches])
    assert batches.batches == [0, 1, 2, 3]


# --- CSVLogger -----------------------------------------------------------------------------

def read_rows(path, delimiter=","):
    with open(path, newline="") as file:
        return list(csv.reader(file, delimiter=delimiter))


def test_csv_logger_writes_one_row_per_epoch(tmp_path, backend):
    path = tmp_path / "log.csv"
    x, y = data()
    history = model().fit(x, y, epochs=3, batch_size=4, validation_split=0.25, verbose=0,
                          callbacks=[CSVLogger(path)])
    header, *rows = read_rows(path)
    assert header == ["epoch", "loss", "val_loss"]
    assert [int(row[0]) for row in rows] == [0, 1, 2]
    assert [float(row[1]) for row in rows] == history.history["loss"]
    assert [float(row[2]) for row in rows] == history.history["val_loss"]


def test_csv_logger_append_and_separator(tmp_path):
    path = tmp_path / "log.csv"
    net = model()
    fit(net, 2, [CSVLogger(path, separator=";")])
    fit(net, 3, [CSVLogger(path, separator=";", append=True)], initial_epoch=2)
    header, *rows = read_rows(path, delimiter=";")
    assert header == ["epoch", "loss"] and [row[0] for row in rows] == ["0", "1", "2"]
    fit(net, 1, [CSVLogger(path, separator=";")])  # append=False starts the file again
    assert len(read_rows(path, delimiter=";")) == 2


# --- progress display ----------------------------------------------------------------------

def test_verbose_2_prints_one_line_per_epoch(capsys):
    fit_verbose(2, epochs=2)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Epoch 1/2" and lines[2] == "Epoch 2/2" and len(lines) == 4
    assert lines[1].startswith("4/4 - ") and "ms/step - loss: " in lines[1]


def test_verbose_0_prints_nothing(capsys):
    fit_verbose(0, epochs=2)
    assert capsys.readouterr().out == ""


def test_verbose_1_off_a_terminal_falls_back_to_lines(capsys):
    fit_verbose(1, epochs=2)
    out = capsys.readouterr().out
    assert "\r" not in out and len(out.splitlines()) == 4


def test_verbose_1_on_a_terminal_draws_a_bar(capsys, monkeypatch):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    fit_verbose(1, epochs=1)
    out = capsys.readouterr().out
    assert out.startswith("Epoch 1/1\n")
    assert "4/4" in out and "loss: " in out and "<" in out  # steps, logs, elapsed<remaining


def fit_verbose(verbose, epochs):
    x, y = data()
    model().fit(x, y, epochs=epochs, batch_size=4, verbose=verbose)


def test_progbar_running_loss_is_the_mean_of_the_batch_losses(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdout.isatty", lambda: True)
    monkeypatch.setattr("deepcore.callbacks.progbar.REFRESH_SECONDS", -1.0)  # refresh every batch
    bar = ProgbarLogger(verbose=1)
    bar.set_params({"epochs": 1, "steps": 3})
    bar.on_epoch_begin(0)
    for batch, loss in enumerate([1.0, 2.0, 6.0]):
        bar.on_train_batch_end(batch, {"loss": loss})
    assert bar._bar.desc == "- loss: 3.0000"
    bar.on_epoch_end(0, {"loss": 3.0})
    capsys.readouterr()


def test_format_value_uses_keras_rule():
    assert format_value(0.12345) == "0.1235"
    assert format_value(1e-5) == "1.0000e-05"


def test_lambda_callback_calls_its_functions_as_keras_does(backend):
    """The six named hooks and others by keyword, with Keras's arguments; an unknown hook
    name is refused."""
    calls = []
    callback = dc.callbacks.LambdaCallback(
        on_train_begin=lambda logs: calls.append(("train_begin",)),
        on_epoch_end=lambda epoch, logs: calls.append(("epoch_end", epoch, round(logs["loss"], 6) > 0)),
        on_train_batch_end=lambda batch, logs: calls.append(("batch_end", batch)),
        on_test_begin=lambda logs: calls.append(("test_begin",)),
        on_train_end=lambda logs: calls.append(("train_end", sorted(logs))),
    )
    model = dc.models.Sequential([dc.layers.Dense(1, input_shape=(2,))])
    model.compile(optimizer="sgd", loss="mse")
    x, y = np.ones((8, 2), np.float32), np.zeros((8, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[callback], validation_data=(x, y))
    assert calls == [("train_begin",), ("batch_end", 0), ("batch_end", 1), ("test_begin",), ("epoch_end", 0, True),
                     ("batch_end", 0), ("batch_end", 1), ("test_begin",), ("epoch_end", 1, True),
                     ("train_end", ["loss", "val_loss"])]  # the last epoch's logs, as Keras
    with pytest.raises(TypeError, match=r"unknown hook\(s\) \['on_epoch_middle'\]"):
        dc.callbacks.LambdaCallback(on_epoch_middle=print)


class _Crash(Exception):
    pass


class _CrashAfterEpoch(dc.callbacks.Callback):
    def __init__(self, epoch):
        super().__init__()
        self.epoch = epoch

    def on_epoch_end(self, epoch, logs=None):
        if epoch == self.epoch:
            raise _Crash()


@pytest.mark.parametrize("save_freq", ["epoch", 2])
def test_backup_and_restore_resumes_an_interrupted_run_exactly(backend, tmp_path, save_freq):
    """A run that dies after its second epoch, restarted with the same callback, goes on at
    the third epoch (weights and Adam state restored) and ends where an uninterrupted run
    ends; a finished run removes the backup. Saving every 2 batches (3 an epoch), as Keras, the
    last backup is mid-way through the second epoch's bookkeeping: that epoch starts over."""
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal((24, 3)).astype(np.float32), rng.standard_normal((24, 1)).astype(np.float32)

    def model():
        dc.utils.set_random_seed(3)
        m = Sequential([Dense(4, activation="tanh", input_shape=(3,)), Dense(1)])
        m.compile(optimizer="adam", loss="mse")
        return m

    reference = model()
    reference.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0)
    backup = dc.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=save_freq)
    interrupted = model()
    with pytest.raises(_Crash):
        interrupted.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0, callbacks=[backup, _CrashAfterEpoch(1)])
    assert (tmp_path / "backup" / "latest.deepcore").exists()
    resumed = model()  # a new process would build the model afresh
    history = resumed.fit(x, y, batch_size=8, epochs=4, shuffle=False, verbose=0,
                          callbacks=[dc.callbacks.BackupAndRestore(tmp_path / "backup", save_freq=save_freq)])
    if save_freq == "epoch":
        assert len(history.history["loss"]) == 2  # epochs 3 and 4
        assert resumed.optimizer.iterations == reference.optimizer.iterations == 12
        for got, want in zip(resumed.get_weights(), reference.get_weights()):
            np.testing.assert_array_equal(got, want)
    else:  # backed up after steps 2, 4 and 6 (the last with epoch 2 unfinished): epochs 2-4 run
        assert len(history.history["loss"]) == 3
        assert resumed.optimizer.iterations == 6 + 9
    assert not (tmp_path / "backup").exists()
    with pytest.raises(ValueError, match="Unrecognized save_freq"):
        dc.callbacks.BackupAndRestore(tmp_path, save_freq=0)


@pytest.mark.parametrize("swap_on_epoch", [False, True])
def test_swap_ema_weights_validates_with_the_moving_averages(backend, swap_on_epoch):
    """Keras: validation sees the averages, training the trained weights; with swap_on_epoch the
    averages stay in the model between epochs (what a checkpoint after it saves); fit ends
    with the averages in the model either way (checked against Keras 3.15.1: same val_loss)."""
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((24, 3)).astype(np.float32), rng.standard_normal((24, 1)).astype(np.float32)
    dc.utils.set_random_seed(4)
    model = Sequential([Dense(1, input_shape=(3,))])
    model.compile(optimizer=SGD(0.1, use_ema=True, ema_momentum=0.6), loss="mse")
    seen = {}

    class Probe(dc.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):  # after SwapEMAWeights in the list
            averages = [np.array(backend.to_numpy(model.optimizer.slots_for(v)["average"]))  # a copy: the
                        for v in model.trainable_variables]  # optimizer updates its state in place
            seen[epoch] = (model.get_weights(), averages,
                           model.evaluate(x, y, verbose=0, callbacks=[]), logs["val_loss"])

    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, validation_data=(x, y),
              callbacks=[dc.callbacks.SwapEMAWeights(swap_on_epoch=swap_on_epoch), Probe()])
    weights, other, loss_of_model, val_loss = seen[0]
    if swap_on_epoch:  # the averages are in the model, the trained weights kept aside
        assert loss_of_model == pytest.approx(val_loss, rel=1e-6)
    else:  # the trained weights are in the model; validation used the averages
        assert loss_of_model != pytest.approx(val_loss, rel=1e-6)
        probe = Sequential([Dense(1, input_shape=(3,))])
        probe.compile(optimizer="sgd", loss="mse")
        probe.set_weights(other)
        assert probe.evaluate(x, y, verbose=0) == pytest.approx(val_loss, rel=1e-6)
    last_weights, last_averages = seen[1][:2]
    # The averages end in the model: those in it at the last epoch's end with swap_on_epoch,
    # else the optimizer's (fit's final step).
    for final, average in zip(model.get_weights(), last_weights if swap_on_epoch else last_averages):
        np.testing.assert_array_equal(final, average)
    plain = Sequential([Dense(1, input_shape=(3,))])
    plain.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="needs an optimizer with use_ema=True"):
        plain.fit(x, y, verbose=0, validation_data=(x, y), callbacks=[dc.callbacks.SwapEMAWeights()])
