from deepcore.backend import array_namespace
from deepcore.optimizers.base import Optimizer

# Keras's momentum schedule: the momentum at step t is beta_1 * (1 - 0.5 * 0.96^t).
MOMENTUM_DECAY = 0.96


class Nadam(Optimizer):
    """Adam with Nesterov momentum (Dozat), Keras 3's update rule at step t = iterations + 1,
    with mu_t = beta_1 * (1 - 0.5 * 0.96^t) and P_t = mu_1 * ... * mu_t:

    m += (g - m) * (1 - beta_1);  v += (g^2 - v) * (1 - beta_2)
    m_hat = mu_{t+1} * m / (1 - P_t * mu_{t+1}) + (1 - mu_t) * g / (1 - P_t)
    v_hat = v / (1 - beta_2^t)
    w -= lr * m_hat / (sqrt(v_hat) + epsilon)

    P_t follows from the step count (Keras keeps it as state), so saving the iterations saves it.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.999, epsilon: float = 1e-7,
                 **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.beta_1, self.beta_2, self.epsilon = beta_1, beta_2, epsilon
        self._product = (0, 1.0)  # (t, P_t), extended one step at a time

    def slot_names(self):
        return ("momentum", "velocity")

    def keras_extra_variables(self):
        return [self._momentum_product(self.iterations)]  # Keras's u_product, kept as a variable

    def _mu(self, t: int) -> float:
        return self.beta_1 * (1.0 - 0.5 * MOMENTUM_DECAY ** t)

    def _momentum_product(self, t: int) -> float:
        """P_t; computed afresh when the step count jumps (a loaded or reset optimizer)."""
        done, product = self._product
        if done > t:
            done, product = 0, 1.0
        for k in range(done + 1, t + 1):
            product *= self._mu(k)
        self._product = (t, product)
        return product

    def update_step(self, variable, gradient, learning_rate, slots):
        xp = array_namespace(gradient)
        t = self.iterations + 1
        mu_t, mu_next = self._mu(t), self._mu(t + 1)
        product = self._momentum_product(t)
        m, v = slots["momentum"], slots["velocity"]
        m += (gradient - m) * (1.0 - self.beta_1)
        v += (gradient * gradient - v) * (1.0 - self.beta_2)
        m_hat = (mu_next / (1.0 - product * mu_next)) * m + ((1.0 - mu_t) / (1.0 - product)) * gradient
        v_hat = v / (1.0 - self.beta_2 ** t)
        variable.value -= (m_hat * learning_rate) / (xp.sqrt(v_hat) + self.epsilon)


