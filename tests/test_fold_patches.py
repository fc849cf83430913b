"""An adapter's `fold_patches` (the backward of convolution) equals the portable
`scatter_windows`, for overlapping windows, tiling windows and tiles that leave a remainder.
On NumPy both of its paths are checked: the compiled kernel (with Numba) and NumPy's own."""

import numpy as np
import pytest

from deepcore.layers.conv_utils import output_length, scatter_windows


FOLDS = pytest.mark.parametrize("spatial, windows, strides, dilations", [
    ((7, 6), (3, 3), (1, 1), (1, 1)),   # overlapping (convolution)
    ((7, 6), (2, 3), (2, 1), (1, 1)),   # overlapping along one axis only
    ((7, 6), (2, 2), (1, 1), (2, 3)),   # dilated
    ((6, 6), (2, 2), (2, 2), (1, 1)),   # tiling windows (stride = window), nothing left over
    ((7, 5), (2, 2), (2, 2), (1, 1)),   # tiling windows, a remainder row and column stay zero
    ((7,), (3,), (3,), (1,)),           # 1-D tiling with a remainder
    ((7,), (3,), (2,), (1,)),
])


@FOLDS
def test_backend_fold_fast_path_matches_the_portable_scatter(backend, spatial, windows, strides, dilations):
    out = tuple(output_length(n, w, s, d, "valid") for n, w, s, d in zip(spatial, windows, strides, dilations))
    channels = 3
    patches_shape = (int(np.prod(windows)), 2, *out, channels)
    padded_shape = (2, *spatial, channels)
    patches = backend.asarray(np.random.default_rng(5).standard_normal(patches_shape), dtype=backend.dtype())
    fast = backend.fold_patches(patches, padded_shape, windows, strides, dilations)
    portable = scatter_windows(patches, padded_shape, windows, strides, dilations)
    assert tuple(fast.shape) == padded_shape
    # Both add the same values in the same order (window offsets row-major): bit-identical.
    np.testing.assert_array_equal(backend.to_numpy(fast), backend.to_numpy(portable))


@FOLDS
@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
def test_numpy_fold_without_compiled_kernels_matches_the_portable_scatter(
        deepcore_backend, spatial, windows, strides, dilations, without_compiled_kernels):
    test_backend_fold_fast_path_matches_the_portable_scatter(deepcore_backend, spatial, windows, strides, dilations)


@pytest.mark.parametrize("deepcore_backend", ["numpy"], indirect=True)
def test_numpy_fold_goes_through_its_compiled_kernel(deepcore_backend, compiled_kernels):
    test_backend_fold_fast_path_matches_the_portable_scatter(deepcore_backend, (7,), (3,), (2,), (1,))
    test_backend_fold_fast_path_matches_the_portable_scatter(deepcore_backend, (7, 6), (2, 2), (1, 1), (2, 3))
    assert compiled_kernels == {"fold_patches": 2}
