"""The classic Keras quick-start script, unchanged except for its imports.

A binary classifier on 100 random samples with 10 features, trained for 10 epochs with Adam.
Run: ``python examples/seed_example.py`` (the backend follows ``DEEPCORE_BACKEND``, else auto).
"""
import numpy as np
from deepcore.models import Sequential
from deepcore.layers import Dense
model = Sequential()
model.add(Dense(10, activation='relu', input_shape=(10,)))
model.add(Dense(10, activation='relu'))
model.add(Dense(1, activation='sigmoid'))
model.compile(loss='binary_crossentropy', optimizer='adam')
X = np.random.rand(100, 10)
y = np.random.randint(2, size=100)
model.fit(X, y, epochs=10)
