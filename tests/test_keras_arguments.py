"""Arguments that Keras scripts pass (Keras 2 idioms Keras 3 still takes, and Keras 3 options):
each either works as in Keras or, where deepcore lacks the feature, is refused by name."""

import numpy as np
import pytest

import deepcore as dc
from deepcore import layers
from deepcore.models import Sequential


def test_input_dim_gives_the_input_shape_as_keras_2s_tutorials_write_it(backend):
    model = Sequential()
    model.add(layers.Dense(12, input_dim=8, activation="relu"))
    model.add(layers.Dense(1, activation="sigmoid"))
    assert model.input_shape == (None, 8) and model.output_shape == (None, 1)
    model.compile(optimizer="adam", loss="binary_crossentropy")
    model.fit(np.random.default_rng(0).normal(size=(16, 8)), np.arange(16) % 2, verbose=0)


def test_input_layer_takes_keras_2s_input_shape():
    assert Sequential([layers.InputLayer(input_shape=(3,)), layers.Dense(2)]).input_shape == (None, 3)


def test_embedding_starts_from_given_weights_and_keras_2s_input_length(backend):
    table = np.arange(10.0).reshape(5, 2)
    for weights in (table, [table]):  # Keras 3 passes the array, Keras 2 a list holding it
        embedding = layers.Embedding(5, 2, weights=weights, input_length=3, trainable=False)
        model = Sequential([embedding, layers.Flatten()])
        assert model.input_shape == (None, 3)
        ids = np.array([[4, 0, 2]])
        np.testing.assert_array_equal(model.predict(ids, verbose=0), table[ids].reshape(1, -1))
    model.add(layers.Dense(1))
    model.compile(optimizer="adam", loss="mse")
    model.fit(np.array([[1, 2, 3]] * 4), np.ones((4, 1)), verbose=0)
    np.testing.assert_array_equal(embedding.get_weights()[0], table)  # trainable=False: the vectors stay
    with pytest.raises(ValueError, match=r"expected shape \(5, 3\), received \(5, 2\)"):
        layers.Embedding(5, 3, weights=table).build((None, 4))


@pytest.mark.parametrize("make, message", [
    (lambda: layers.BatchNormalization(synchronized=True), "synchronized=True .* is not supported"),
    (lambda: layers.Flatten(data_format="channels_first"), "channels_last"),
], ids=["synchronized", "channels_first"])
def test_unsupported_keras_options_are_refused_by_name(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_keras_defaults_of_those_options_are_accepted():
    layers.BatchNormalization(synchronized=False)
    layers.LayerNormalization(rms_scaling=False)
    assert layers.Flatten(data_format="channels_last").compute_output_shape((None, 2, 3)) == (None, 6)
    dc.models.Sequential([layers.Flatten(input_shape=(2, 2))])
