from deepcore.backend import array_namespace
from deepcore.optimizers.base import Optimizer


class Adamax(Optimizer):
    """Adamax (Adam with the infinity norm) with Keras 3's update rule, at step t = iterations + 1:

    m += (g - m) * (1 - beta_1)
    u = max(beta_2 * u, |g|)
    w -= lr * m / ((1 - beta_1^t) * (u + epsilon))
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def slot_names(self):
        return ("m", "u")

    def update_step(self, variable, gradient, learning_rate, slots):
        xp = array_namespace(gradient)
        m, u = slots["m"], slots["u"]
        m += (gradient - m) * (1.0 - self.beta_1)
        u[...] = xp.maximum(self.beta_2 * u, xp.abs(gradient))
        correction = 1.0 - self.beta_1 ** (self.iterations + 1)
        variable.value -= (learning_rate * m) / (correction * (u + self.epsilon))
