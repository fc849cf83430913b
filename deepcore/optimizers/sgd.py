from deepcore.optimizers.base import Optimizer


class SGD(Optimizer):
    """Gradient descent with optional (Nesterov) momentum; Keras 3 update rule.

    momentum = 0:  w -= lr * g
    momentum > 0:  v = momentum * v - lr * g;  w += v
    nesterov:      v = momentum * v - lr * g;  w += momentum * v - lr * g
    """

    def __init__(self, learning_rate=0.01, momentum: float = 0.0, nesterov: bool = False, **kwargs):
        super().__init__(learning_rate=learning_rate, **kwargs)
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"momentum must be a float in [0, 1]; received momentum={momentum}.")
        self.momentum = momentum
        self.nesterov = nesterov

    def slot_names(self):
        return ("momentum",) if self.momentum else ()

    def update_step(self, variable, gradient, learning_rate, slots):
        if not self.momentum:
            variable.value -= learning_rate * gradient
            return
        velocity = slots["momentum"]
        velocity *= self.momentum
        velocity -= learning_rate * gradient
        if self.nesterov:
            variable.value += self.momentum * velocity - learning_rate * gradient
        else:
            variable.value += velocity
