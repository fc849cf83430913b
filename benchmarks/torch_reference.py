"""The same workloads in PyTorch eager (float32): the reference deepcore is measured against.

Same architectures, Keras's Adam hyper-parameters (``eps=1e-7``), one shuffle per epoch,
no ``.item()`` per batch. ``fused=True`` gives PyTorch's single-kernel Adam.
"""

from __future__ import annotations

import time

import numpy as np

from benchmarks.deepcore_workloads import DEAD_BIAS, count_denormals
from benchmarks.gemms import eight_gemms
from benchmarks.sizes import Sizes, binary_data, classification_data, sparse_data
from benchmarks.timing import Case, Measurement, summarize


def available() -> tuple[bool, str]:
    try:
        import torch  # noqa: F401
    except ImportError as exc:
        return False, f"torch is not installed ({exc})"
    return True, ""


def _label(device: str = "cpu", fused: bool = False, dtype: str = "float32") -> str:
    parts = ["torch eager"] + ([device] if device != "cpu" else []) + ([dtype] if dtype != "float32" else [])
    return " ".join(parts) + (" (fused Adam)" if fused else "")


def mlp(inputs: int, width: int, classes: int):
    """inputs-width-width-classes with ReLU; the softmax lives in the loss (cross-entropy)."""
    from torch import nn

    return nn.Sequential(nn.Linear(inputs, width), nn.ReLU(), nn.Linear(width, width), nn.ReLU(),
                         nn.Linear(width, classes))


def keras_init(model) -> None:
    """Keras's initial-weight scheme: Glorot-uniform kernels, orthogonal recurrent kernels, zero
    biases, and an LSTM forget-gate bias of 1 (``unit_forget_bias``; torch's gates are also
    ordered i, f, g, o, and its second bias ``bias_hh`` stays zero)."""
    import torch
    from torch import nn

    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Conv2d)):
                nn.init.xavier_uniform_(module.weight)
                nn.init.zeros_(module.bias)
            elif isinstance(module, nn.LSTM):
                units = module.hidden_size
                for name, weight in module.named_parameters():
                    if name.startswith("weight_ih"):
                        nn.init.xavier_uniform_(weight)
                    elif name.startswith("weight_hh"):
                        nn.init.orthogonal_(weight)
                    else:
                        nn.init.zeros_(weight)
                        if name.startswith("bias_ih"):
                            weight[units:2 * units] = 1.0


def cnn(image: int, classes: int):
    """`benchmarks.deepcore_workloads.cnn` in NCHW (torch's layout; deepcore is channels_last)."""
    from torch import nn

    side = ((image - 2) // 2 - 2) // 2
    return nn.Sequential(nn.Conv2d(1, 32, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Conv2d(32, 64, 3), nn.ReLU(),
                         nn.MaxPool2d(2), nn.Flatten(), nn.Linear(64 * side * side, classes))


def lstm(features: int, units: int, classes: int):
    """``nn.LSTM`` (batch first) whose last time step feeds ``nn.Linear``, as Keras's LSTM(units)
    (last output only) - Dense(classes); the softmax lives in the loss."""
    from torch import nn

    class LastOutput(nn.Module):
        def __init__(self):
            super().__init__()
            self.lstm = nn.LSTM(features, units, batch_first=True)
            self.dense = nn.Linear(units, classes)

        def forward(self, x):
            return self.dense(self.lstm(x)[0][:, -1, :])

    return LastOutput()


def _trainer(model, loss_fn, x, y, batch: int, fused: bool, autocast_dtype=None):
    """``(epoch, optimizer)``: ``epoch()`` runs one shuffled epoch of Adam steps on ``(x, y)``."""
    import torch

    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7, fused=fused or None)
    n = x.shape[0]

    def step(xb, yb):
        optimizer.zero_grad(set_to_none=True)
        loss_fn(model(xb), yb).backward()
        optimizer.step()

    def epoch():
        order = torch.randperm(n, device=x.device)
        for start in range(0, n, batch):
            index = order[start:start + batch]
            if autocast_dtype is None:
                step(x[index], y[index])
            else:
                with torch.autocast(x.device.type, dtype=autocast_dtype):
                    step(x[index], y[index])

    return epoch, optimizer


def _synchronizer(device: str):
    import torch

    return (lambda: torch.cuda.synchronize()) if device.startswith("cuda") else (lambda: None)


def mlp_train(sizes: Sizes, fused: bool = False, device: str = "cpu", width: int | None = None,
              batch: int | None = None, samples: int | None = None, dtype: str = "float32") -> Case:
    """One epoch of MLP training per run; ``dtype`` other than float32 runs under autocast."""
    import torch

    samples, batch = samples or sizes.samples, batch or sizes.batch
    x, y = classification_data(samples, sizes.inputs, sizes.classes)
    torch.manual_seed(0)
    model = mlp(sizes.inputs, width or sizes.width, sizes.classes).to(device)
    xt, yt = torch.from_numpy(x).to(device), torch.from_numpy(y).to(device)
    autocast = None if dtype == "float32" else getattr(torch, dtype)
    epoch, _ = _trainer(model, torch.nn.CrossEntropyLoss(), xt, yt, batch, fused, autocast)
    return Case(_label(device, fused, dtype), epoch, samples, _synchronizer(device))


def _sparse_train(model, x: np.ndarray, y: np.ndarray, batch: int) -> Case:
    """One epoch of ``model`` with cross-entropy on integer labels per run; work in samples."""
    import torch

    keras_init(model)
    epoch, _ = _trainer(model, torch.nn.CrossEntropyLoss(), torch.from_numpy(x), torch.from_numpy(y), batch,
                        fused=False)
    return Case(_label(), epoch, x.shape[0])


def cnn_train(sizes: Sizes) -> Case:
    """`benchmarks.deepcore_workloads.cnn_train` in PyTorch, on the same images as NCHW."""
    import torch

    x, y = sparse_data((sizes.cnn_samples, sizes.image, sizes.image, 1), sizes.classes)
    torch.manual_seed(0)
    return _sparse_train(cnn(sizes.image, sizes.classes), np.ascontiguousarray(x.transpose(0, 3, 1, 2)), y,
                         sizes.cnn_batch)


def lstm_train(sizes: Sizes) -> Case:
    """`benchmarks.deepcore_workloads.lstm_train` in PyTorch (``nn.LSTM``, batch first)."""
    import torch

    x, y = sparse_data((sizes.seq_samples, sizes.seq_steps, sizes.seq_features), sizes.classes)
    torch.manual_seed(0)
    return _sparse_train(lstm(sizes.seq_features, sizes.lstm_units, sizes.classes), x, y, sizes.seq_batch)


def tiny_train(sizes: Sizes) -> Case:
    """One epoch of the seed network 10-10-10-1 (sigmoid output, BCE) per run; work in steps."""
    import torch
    from torch import nn

    x, y = binary_data(sizes.tiny_samples)
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 1),
                          nn.Sigmoid())
    epoch, _ = _trainer(model, nn.BCELoss(), torch.from_numpy(x), torch.from_numpy(y), sizes.tiny_batch,
                        fused=False)
    return Case(_label(), epoch, -(-sizes.tiny_samples // sizes.tiny_batch))


def mlp_predict(sizes: Sizes) -> Case:
    """MLP inference (with the softmax) in batches of ``predict_batch``, results in NumPy."""
    import torch

    x, _ = classification_data(sizes.samples, sizes.inputs, sizes.classes)
    torch.manual_seed(0)
    model = mlp(sizes.inputs, sizes.width, sizes.classes)
    xt = torch.from_numpy(x)

    def predict():
        with torch.inference_mode():
            outputs = [torch.softmax(model(xt[s:s + sizes.predict_batch]), dim=-1)
                       for s in range(0, sizes.samples, sizes.predict_batch)]
            return torch.cat(outputs).numpy()

    return Case(_label(), predict, sizes.samples)


def gemm_limit(sizes: Sizes) -> Case:
    """Only the 8 GEMMs of an epoch of MLP training steps, ``torch.mm`` into buffers."""
    import torch

    rng = np.random.default_rng(0)
    run = eight_gemms(sizes, lambda shape: torch.from_numpy(rng.standard_normal(shape, dtype=np.float32)),
                      lambda a, b, out: torch.mm(a, b, out=out))
    return Case("torch GEMMs only", run, sizes.samples)


def denormal_run(sizes: Sizes) -> tuple[Measurement, Measurement, int]:
    """`benchmarks.deepcore_workloads.denormal_run` in PyTorch (which keeps denormals)."""
    import torch

    x, y = classification_data(sizes.samples, sizes.inputs, sizes.classes)
    torch.manual_seed(0)
    model = mlp(sizes.inputs, sizes.width, sizes.classes)
    epoch, optimizer = _trainer(model, torch.nn.CrossEntropyLoss(), torch.from_numpy(x), torch.from_numpy(y),
                                sizes.batch, fused=False)
    epoch()
    with torch.no_grad():
        model[0].bias[: sizes.width // 2] = DEAD_BIAS
    seconds = []
    for _ in range(sizes.denormal_epochs):
        start = time.perf_counter()
        epoch()
        seconds.append(time.perf_counter() - start)
    state = [s[k].numpy() for s in optimizer.state.values() for k in ("exp_avg", "exp_avg_sq")]
    rates = [sizes.samples / s for s in seconds]
    return (summarize("torch eager, first epochs", rates[:2]), summarize("torch eager, last epochs", rates[-2:]),
            count_denormals(state))
