from deepcore.backend import array_namespace
from deepcore.optimizers.base import Optimizer


class Adadelta(Optimizer):
    """Adadelta (Zeiler) with Keras 3's update rule (Keras's default learning_rate 0.001
    scales the step; the paper's 1.0 gives the original method):

    a = rho * a + (1 - rho) * g^2
    delta = -sqrt(d + epsilon) * g / sqrt(a + epsilon)
    d = rho * d + (1 - rho) * delta^2
    w += lr * delta
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.95, epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.epsilon = rho, epsilon

    def slot_names(self):
        return ("accumulated_grad", "accumulated_delta_var")

    def update_step(self, variable, gradient, learning_rate, slots):
        xp = array_namespace(gradient)
        accumulated_grad, accumulated_delta = slots["accumulated_grad"], slots["accumulated_delta_var"]
        accumulated_grad[...] = self.rho * accumulated_grad + (1.0 - self.rho) * gradient * gradient
        delta = -xp.sqrt(accumulated_delta + self.epsilon) * gradient / xp.sqrt(accumulated_grad + self.epsilon)
        accumulated_delta[...] = self.rho * accumulated_delta + (1.0 - self.rho) * delta * delta
        variable.value += learning_rate * delta
