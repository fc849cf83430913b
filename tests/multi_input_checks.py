"""Finite-difference checks for layers that take a list of inputs (merges, attention), shared
by their tests."""

from deepcore.testing.gradients import check_backward


def check_each_input(backend, layer, hosts, label, variables=(), **forward_kwargs):
    """Finite differences for every input's gradient, the other inputs held fixed (float64 on
    ``backend``), and for ``variables`` with the first input; each gradient has exactly its
    input's shape. ``forward_kwargs`` go to the layer's forward."""
    float64 = backend.dtype("float64")
    for i, host in enumerate(hosts):
        def forward(v, i=i):
            inputs = [v if j == i else backend.asarray(h, dtype=float64) for j, h in enumerate(hosts)]
            y, backprop = layer.forward(inputs, **forward_kwargs)

            def backprop_i(dy):
                dxs = backprop(dy)
                assert [tuple(dx.shape) for dx in dxs] == [h.shape for h in hosts], (label, i)
                return dxs[i]

            return y, backprop_i

        check_backward(forward, host, variables if i == 0 else (), label=f"{label}, input {i}")
