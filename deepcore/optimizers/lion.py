from deepcore.backend import array_namespace
from deepcore.optimizers.base import Optimizer


class Lion(Optimizer):
    """Lion (Chen et al., 2023) with Keras 3's update rule:

    w -= lr * sign(m * beta_1 + g * (1 - beta_1))
    m = m * beta_2 + g * (1 - beta_2)

    Its steps are of size lr in every coordinate: Keras suggests a learning rate 3-10x below
    Adam's.
    """

    def __init__(self, learning_rate=0.001, beta_1: float = 0.9, beta_2: float = 0.99, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0.0 < beta_1 <= 1.0:
            raise ValueError(f"Lion: beta_1 must be in (0, 1] (at 0 it is sign SGD); received beta_1={beta_1}.")
        self.beta_1, self.beta_2 = beta_1, beta_2

    def slot_names(self):
        return ("momentum",)

    def update_step(self, variable, gradient, learning_rate, slots):
        xp = array_namespace(gradient)
        m = slots["momentum"]
        variable.value -= learning_rate * xp.sign(m * self.beta_1 + gradient * (1.0 - self.beta_1))
        m[...] = m * self.beta_2 + gradient * (1.0 - self.beta_2)
