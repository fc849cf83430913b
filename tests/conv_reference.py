"""Direct-loop float64 references for convolution and pooling in any number of spatial axes,
written independently of deepcore (TensorFlow's SAME rule spelled out again)."""

import itertools

import numpy as np


def same_padding(length, window, stride, dilation):
    """TensorFlow's SAME rule, written out independently of deepcore."""
    effective = dilation * (window - 1) + 1
    out = int(np.ceil(length / stride))
    total = max((out - 1) * stride + effective - length, 0)
    return total // 2, total - total // 2


def reference_conv(x, kernel, bias, strides, padding, dilation):
    """Direct loops: y[n, o..., f] = sum over offsets and channels of x * kernel (+ bias)."""
    rank = x.ndim - 2
    if padding == "same":
        pads = [same_padding(x.shape[1 + a], kernel.shape[a], strides[a], dilation[a]) for a in range(rank)]
    elif padding == "causal":
        pads = [(dilation[0] * (kernel.shape[0] - 1), 0)]
    else:
        pads = [(0, 0)] * rank
    xp = np.pad(x, [(0, 0), *pads, (0, 0)])
    out_shape = [
        (xp.shape[1 + a] - dilation[a] * (kernel.shape[a] - 1) - 1) // strides[a] + 1 for a in range(rank)
    ]
    y = np.zeros((x.shape[0], *out_shape, kernel.shape[-1]))
    for n in range(x.shape[0]):
        for out in itertools.product(*(range(o) for o in out_shape)):
            for offset in itertools.product(*(range(k) for k in kernel.shape[:rank])):
                position = tuple(out[a] * strides[a] + offset[a] * dilation[a] for a in range(rank))
                y[(n, *out)] += xp[(n, *position)] @ kernel[offset]
    return y + bias


def reference_pool(x, pool, strides, padding, mode):
    """Direct loops over windows; padded positions are excluded (from the max and the count)."""
    rank = x.ndim - 2
    pads = [same_padding(x.shape[1 + a], pool[a], strides[a], 1) for a in range(rank)] if padding == "same" \
        else [(0, 0)] * rank
    out_shape = [
        (x.shape[1 + a] + sum(pads[a]) - pool[a]) // strides[a] + 1 for a in range(rank)
    ]
    y = np.zeros((x.shape[0], *out_shape, x.shape[-1]))
    for out in itertools.product(*(range(o) for o in out_shape)):
        starts = [out[a] * strides[a] - pads[a][0] for a in range(rank)]
        index = tuple(slice(max(s, 0), min(s + pool[a], x.shape[1 + a])) for a, s in enumerate(starts))
        window = x[(slice(None), *index, slice(None))].reshape(x.shape[0], -1, x.shape[-1])
        y[(slice(None), *out, slice(None))] = window.max(axis=1) if mode == "max" else window.mean(axis=1)
    return y
