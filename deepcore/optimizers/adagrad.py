from deepcore.backend import array_namespace
from deepcore.optimizers.base import Optimizer


class Adagrad(Optimizer):
    """Adagrad with Keras 3's update rule:

    accumulator += g^2   (starting at initial_accumulator_value)
    w -= lr * g / sqrt(accumulator + epsilon)
    """

    def __init__(self, learning_rate=0.001, initial_accumulator_value: float = 0.1,
                 epsilon: float = 1e-7, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.initial_accumulator_value = initial_accumulator_value
        self.epsilon = epsilon

    def slot_names(self):
        return ("accumulator",)

    def initial_slot_value(self, name):
        return self.initial_accumulator_value

    def update_step(self, variable, gradient, learning_rate, slots):
        accumulator = slots["accumulator"]
        accumulator += gradient * gradient
        variable.value -= learning_rate * gradient / array_namespace(gradient).sqrt(accumulator + self.epsilon)
