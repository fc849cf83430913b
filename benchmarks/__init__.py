"""deepcore's benchmarks: deepcore on every usable backend next to PyTorch eager, in one process.

Run ``python -m benchmarks`` (or ``deepcore bench``) from a source checkout; ``--help`` lists
the options. Workloads (see `benchmarks.runner`):

1. ``mlp_train``      MLP 784-512-512-10, ReLU, softmax cross-entropy, Adam, batch 128: samples/s
2. ``tiny_train``     the seed network 10-10-10-1, binary cross-entropy, Adam, batch 32: steps/s
3. ``mlp_predict``    inference of the MLP, batch 1024: samples/s
4. ``blas_limit``     only the 8 GEMMs of one MLP training step: samples/s
5. ``process_start``  wall time of ``import deepcore`` and of the seed example as a program
6. ``peak_rss``       peak resident memory of workload 1, each library in its own process
7. ``gpu_mlp``        the MLP at width 4096, batch 1024, on CUDA (skipped without a device)
8. ``denormal_run``   a long MLP run in which half the first layer's units die, so Adam's
                      moments decay towards float32 denormals (the denormal trap)

Every figure is the median, min and max over ``--repeats`` timed runs after ``--warmup``
untimed ones; ratios divide a result's median by the reference's median (PyTorch eager).
Nothing here is asserted: performance is reported, never tested.
"""
