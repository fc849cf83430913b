from deepcore.backend import array_namespace
from deepcore.optimizers.base import Optimizer


class RMSprop(Optimizer):
    """RMSprop with Keras 3's update rule:

    v = rho * v + (1 - rho) * g^2
    centered:  a = rho * a + (1 - rho) * g;  denominator = v - a^2 + epsilon
    otherwise: denominator = v + epsilon
    increment = lr * g / sqrt(denominator)
    momentum > 0: m = momentum * m + increment;  w -= m
    otherwise:    w -= increment
    """

    def __init__(self, learning_rate=0.001, rho: float = 0.9, momentum: float = 0.0,
                 epsilon: float = 1e-7, centered: bool = False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        self.rho, self.momentum, self.epsilon, self.centered = rho, momentum, epsilon, centered

    def slot_names(self):
        return (
            ("velocity",)
            + (("momentum",) if self.momentum else ())
            + (("average_gradient",) if self.centered else ())
        )

    def keras_slot_blocks(self):
        # Keras creates each kind of slot for every variable before the next kind.
        return super().keras_slot_blocks()[:-1] + [(name,) for name in self.slot_names()]

    def update_step(self, variable, gradient, learning_rate, slots):
        xp = array_namespace(gradient)
        velocity = slots["velocity"]
        velocity *= self.rho
        velocity += (1.0 - self.rho) * (gradient * gradient)
        if self.centered:
            average = slots["average_gradient"]
            average *= self.rho
            average += (1.0 - self.rho) * gradient
            denominator = velocity - average * average + self.epsilon
        else:
            denominator = velocity + self.epsilon
        increment = learning_rate * gradient / xp.sqrt(denominator)
        if self.momentum:
            momentum = slots["momentum"]
            momentum *= self.momentum
            momentum += increment
            variable.value -= momentum
        else:
            variable.value -= increment
