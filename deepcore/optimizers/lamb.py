from deepcore.backend import array_namespace
from deepcore.optimizers.base import Optimizer


class Lamb(Optimizer):
    """LAMB (You et al., 2019) with Keras 3's update rule, each variable on its own, at step
    t = iterations + 1:

    m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
    update = (m / (1 - beta_1^t)) / (sqrt(v / (1 - beta_2^t)) + epsilon)
    w -= ratio * lr * update,  ratio = ||w|| / ||update|| (1 where either norm is 0)

    The norms are taken on the device (no host read per step).
    """

    elementwise = False  # the norms are per variable: no flat group

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon

    def slot_names(self):
        return ("momentum", "velocity")

    def update_step(self, variable, gradient, learning_rate, slots):
        xp = array_namespace(gradient)
        t = self.iterations + 1
        m, v = slots["momentum"], slots["velocity"]
        m += (gradient - m) * (1.0 - self.beta_1)
        v += (gradient * gradient - v) * (1.0 - self.beta_2)
        update = (m / (1.0 - self.beta_1**t)) / (xp.sqrt(v / (1.0 - self.beta_2**t)) + self.epsilon)
        w_norm = xp.sqrt(xp.sum(variable.value * variable.value))
        u_norm = xp.sqrt(xp.sum(update * update))
        both = (w_norm > 0) & (u_norm > 0)
        ratio = xp.where(both, w_norm / xp.where(both, u_norm, 1.0), 1.0)
        variable.value -= ratio * learning_rate * update
