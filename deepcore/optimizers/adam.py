import math

from deepcore.optimizers.base import Optimizer
from deepcore.registry import get_backend


class Adam(Optimizer):
    """Adam (Kingma & Ba) with Keras 3's update rule, at step t = iterations + 1:

    alpha = lr * sqrt(1 - beta_2^t) / (1 - beta_1^t)
    m += (g - m) * (1 - beta_1)
    v += (g^2 - v) * (1 - beta_2)
    v_hat = max(v_hat, v) if amsgrad else v
    w -= alpha * m / (sqrt(v_hat) + epsilon)
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999,
                 epsilon: float = 1e-7, amsgrad: bool = False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon, self.amsgrad = beta_1, beta_2, epsilon, amsgrad

    def slot_names(self):
        return ("momentum", "velocity", "velocity_hat") if self.amsgrad else ("momentum", "velocity")

    def keras_slot_blocks(self):
        blocks = super().keras_slot_blocks()
        if not self.amsgrad:
            return blocks
        return blocks[:-1] + [("momentum", "velocity"), ("velocity_hat",)]  # Keras adds the maxima last

    def update_step(self, variable, gradient, learning_rate, slots):
        t = self.iterations + 1
        alpha = learning_rate * math.sqrt(1.0 - self.beta_2**t) / (1.0 - self.beta_1**t)
        # In place on the backend (NumPy: into reused buffers; CuPy: one fused kernel).
        get_backend().adam_update(variable.value, gradient, slots["momentum"], slots["velocity"], alpha,
                                  self.beta_1, self.beta_2, self.epsilon, slots.get("velocity_hat"))


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter), Keras 3 defaults.

    Before the Adam update: w -= w * weight_decay * lr (weight_decay defaults to 0.004).
    """

    def __init__(self, learning_rate=0.001, weight_decay: float = 0.004, **kwargs):
        super().__init__(learning_rate=learning_rate, weight_decay=weight_decay, **kwargs)
