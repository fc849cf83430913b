"""Callbacks with Keras names, hooks and arguments."""

from deepcore.callbacks.backup_and_restore import BackupAndRestore
from deepcore.callbacks.base import Callback, CallbackList
from deepcore.callbacks.csv_logger import CSVLogger
from deepcore.callbacks.early_stopping import EarlyStopping
from deepcore.callbacks.history import History
from deepcore.callbacks.lambda_callback import LambdaCallback
from deepcore.callbacks.learning_rate_scheduler import LearningRateScheduler
from deepcore.callbacks.model_checkpoint import ModelCheckpoint
from deepcore.callbacks.monitor import MonitorCallback
from deepcore.callbacks.progbar import ProgbarLogger
from deepcore.callbacks.reduce_lr_on_plateau import ReduceLROnPlateau
from deepcore.callbacks.swap_ema_weights import SwapEMAWeights
from deepcore.callbacks.terminate_on_nan import TerminateOnNaN

__all__ = [
    "BackupAndRestore", "Callback", "CallbackList", "CSVLogger", "EarlyStopping", "History", "LambdaCallback", "LearningRateScheduler",
    "ModelCheckpoint", "MonitorCallback", "ProgbarLogger", "ReduceLROnPlateau", "SwapEMAWeights", "TerminateOnNaN",
]
