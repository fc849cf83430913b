"""The convolutional and sequence examples reach their stated goals, on every backend.

Each example's ``main(epochs)`` trains from a fixed seed on a fixed split and returns its test
metric; the thresholds are the examples' stated goals, not measured values.
"""

import numpy as np
import pytest
from example_scripts import assert_runs_as_script, load


@pytest.mark.slow
def test_digits_cnn_reaches_97_percent_accuracy(backend):
    assert load("digits_cnn").main(epochs=20) >= 0.97


@pytest.mark.slow
def test_predictive_maintenance_halves_the_naive_error(backend):
    rmse, baseline = load("predictive_maintenance").main(epochs=10)
    assert rmse < 0.5 * baseline, f"test RMSE {rmse:.1f} vs predict-the-mean {baseline:.1f} cycles"


@pytest.mark.slow
def test_video_motion_tells_directions_no_single_frame_shows(backend):
    accuracy, majority = load("video_motion").main(epochs=4)
    assert accuracy >= 0.9, f"held-out accuracy {accuracy:.4f} vs majority class {majority:.4f}"


def test_video_frames_alone_say_nothing_of_the_direction():
    """Every frame is two squares placed uniformly whatever the label (they wrap around the
    edges): each row and column of the frames is lit as often for every direction."""
    example = load("video_motion")
    clips = 4000
    x, y = example.make_clips(clips, seed=1, noise=0.0)
    assert list(np.bincount(y)) == [clips // 4] * 4
    lit = x[..., 0] > 0.5  # (clips, frames, rows, cols): the squares' pixels
    assert np.all(lit.sum(axis=(2, 3)) >= example.SQUARE ** 2)  # both squares in every frame (they may overlap)
    for axis in (2, 3):  # how often each row / column holds a lit pixel, per direction
        touched = lit.any(axis=5 - axis).mean(axis=1)  # (clips, SIZE)
        by_direction = np.stack([touched[y == label].mean(axis=0) for label in range(4)])
        # 1000 clips a direction: each rate has a standard error of at most sqrt(0.25 / 1000)
        # = 0.016 (a clip's frames are not independent, so clips count, not frames); 5 of them.
        np.testing.assert_allclose(by_direction, np.broadcast_to(by_direction.mean(axis=0), (4, example.SIZE)),
                                   atol=5 * 0.016)


@pytest.mark.slow
def test_layer_examples_run_as_scripts_with_epochs_flag():
    """The command line works (one epoch: only that it runs and prints its metric)."""
    for name, metric in [("digits_cnn", "test accuracy"), ("predictive_maintenance", "test RMSE"),
                         ("video_motion", "held-out accuracy")]:
        assert_runs_as_script(name, metric)
