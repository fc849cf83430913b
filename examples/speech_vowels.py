"""Vowel recognition from synthetic audio: log spectrogram -> 1-D convolutional network.

The audio is synthetic, not recorded speech: a seeded source-filter (formant) synthesizer,
in the manner of Klatt's cascade synthesizer, makes vowel-like sounds at 8 kHz. A glottal pulse
train at a random pitch (90-250 Hz, with cycle-to-cycle jitter and shimmer) goes through
second-order resonators at the first three formants of one of five vowels, each clip from a
random "speaker": every formant is scaled by a vocal-tract factor (0.85-1.2) and perturbed by a
few percent on its own. The vowel, 0.2-0.35 s long, starts at a random time within a 0.4 s clip,
at a random loudness, in white noise (10-30 dB signal-to-noise ratio). The task is to name the
vowel from its log-magnitude spectrogram (32 ms Hann frames, 32 frequency bands of 125 Hz),
read by Conv1D over time. Pitch and loudness carry no label information, and the formants of
different vowels overlap across speakers, so the model has to learn formant patterns. Test clips
come from a separate seed (other random speakers). Prints the test accuracy next to chance,
0.2 (goal: at least 0.9).
Run: ``python examples/speech_vowels.py [--epochs N]`` (backend: ``DEEPCORE_BACKEND``, else auto).
"""

from __future__ import annotations

import argparse

import numpy as np

import deepcore as dc
from deepcore.layers import Conv1D, Dense, Dropout, GlobalAveragePooling1D, Input, MaxPooling1D
from deepcore.models import Sequential

RATE = 8000                  # samples per second
CLIP = int(0.4 * RATE)       # samples per clip
FRAME, HOP = 256, 128        # spectrogram frame and hop, samples (32 ms, 16 ms)
BANDS = 32                   # frequency bands of 125 Hz, 0-4 kHz
FRAMES = (CLIP - FRAME) // HOP + 1
# Average formants F1-F3 (Hz) of adult men, Peterson & Barney (1952), "Control methods used in
# a study of the vowels", JASA 24(2), Table II; IPA in the comments ("e" and "o" are the open-mid
# vowels of American English, as in "head" and "hawed").
VOWELS = "aeiou"
FORMANTS = np.array([
    [730.0, 1090.0, 2440.0],   # /ɑ/ hod
    [530.0, 1840.0, 2480.0],   # /ɛ/ head
    [270.0, 2290.0, 3010.0],   # /i/ heed
    [570.0, 840.0, 2410.0],    # /ɔ/ hawed
    [300.0, 870.0, 2240.0],    # /u/ who'd
])
BANDWIDTHS = np.array([80.0, 100.0, 150.0])  # formant bandwidths (Hz), typical values
TRAIN_CLIPS, TEST_CLIPS = 2000, 500


def resonator(frequencies: np.ndarray, centre: np.ndarray, bandwidth: float) -> np.ndarray:
    """Frequency response at ``frequencies`` (Hz) of the second-order resonator
    ``A / (1 - B z^-1 - C z^-2)`` with unit gain at 0 Hz (Klatt 1980, "Software for a
    cascade/parallel formant synthesizer", JASA 67(3)); ``centre`` is ``(clips, 1)``."""
    c = -np.exp(-2.0 * np.pi * bandwidth / RATE)
    b = 2.0 * np.exp(-np.pi * bandwidth / RATE) * np.cos(2.0 * np.pi * centre / RATE)
    z = np.exp(-2j * np.pi * frequencies / RATE)
    return (1.0 - b - c) / (1.0 - b * z - c * z**2)


def synthesize(labels: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One clip ``(CLIP,)`` per vowel label, as ``(clips, CLIP)`` audio in about [-1, 1]."""
    clips = len(labels)
    source = np.zeros((clips, CLIP))
    lengths = rng.integers(int(0.2 * RATE), int(0.35 * RATE), size=clips)
    starts = rng.integers(0, CLIP - lengths + 1)
    for i in range(clips):
        period = RATE / rng.uniform(90.0, 250.0)
        pulses = int(lengths[i] / period) + 1
        times = np.cumsum(period * (1.0 + 0.01 * rng.standard_normal(pulses)))  # jitter
        times = times[times < lengths[i]].astype(int) + starts[i]
        source[i, times] = 1.0 + 0.05 * rng.standard_normal(len(times))          # shimmer

    # Filtering as a product of spectra is a circular convolution: the few milliseconds of
    # ringing that wrap around past the clip's end land before the vowel, where the envelope
    # below silences them (every clip has at least 50 ms without the vowel).
    frequencies = np.fft.rfftfreq(CLIP, 1.0 / RATE)
    speaker = rng.uniform(0.85, 1.2, size=(clips, 1))
    formants = FORMANTS[labels] * speaker * rng.uniform(0.95, 1.05, size=(clips, 3))
    response = resonator(frequencies, np.zeros((clips, 1)), 100.0)  # glottal pulse shape
    response = response * (1.0 - np.exp(-2j * np.pi * frequencies / RATE))  # lip radiation
    for k in range(3):
        response = response * resonator(frequencies, formants[:, k:k + 1], BANDWIDTHS[k])
    voice = np.fft.irfft(np.fft.rfft(source) * response, n=CLIP)

    t = np.arange(CLIP) - starts[:, None]
    fade = int(0.02 * RATE)
    envelope = np.clip(np.minimum(t, lengths[:, None] - t) / fade, 0.0, 1.0)
    voice *= envelope
    voice /= np.sqrt(np.sum(voice**2, axis=1, keepdims=True) / lengths[:, None])  # voiced RMS 1
    snr_db = rng.uniform(10.0, 30.0, size=(clips, 1))
    noise = rng.standard_normal((clips, CLIP)) * 10.0 ** (-snr_db / 20.0)
    return rng.uniform(0.05, 0.3, size=(clips, 1)) * (voice + noise)


def spectrogram(audio: np.ndarray) -> np.ndarray:
    """Log power in ``BANDS`` bands of equal width per Hann-windowed frame:
    ``(clips, CLIP)`` -> ``(clips, FRAMES, BANDS)``."""
    starts = HOP * np.arange(FRAMES)
    frames = audio[:, starts[:, None] + np.arange(FRAME)] * np.hanning(FRAME)
    power = np.abs(np.fft.rfft(frames, axis=-1)[..., 1:]) ** 2  # 128 bins above 0 Hz
    bands = power.reshape(*power.shape[:-1], BANDS, -1).mean(axis=-1)
    return np.log(bands + 1e-10)


def make_dataset(clips: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``clips`` spectrograms ``(clips, FRAMES, BANDS)`` and vowel labels ``(clips,)``, the five
    vowels equally often, in random order."""
    rng = np.random.default_rng(seed)
    labels = rng.permutation(np.arange(clips) % len(VOWELS))
    return spectrogram(synthesize(labels, rng)), labels


def main(epochs: int = 15, verbose: int = 0) -> float:
    """Train, then return the test accuracy."""
    dc.utils.set_random_seed(0)
    x_train, y_train = make_dataset(TRAIN_CLIPS, seed=1)
    x_test, y_test = make_dataset(TEST_CLIPS, seed=2)
    mean, std = x_train.mean(axis=(0, 1)), x_train.std(axis=(0, 1))
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std

    model = Sequential([
        Input(shape=(FRAMES, BANDS)),
        Conv1D(32, 5, activation="relu"),   # (20, 32)
        MaxPooling1D(2),                    # (10, 32)
        Conv1D(64, 3, activation="relu"),   # (8, 64)
        GlobalAveragePooling1D(),           # (64,)
        Dropout(0.3),
        Dense(len(VOWELS), activation="softmax"),
    ])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(x_train, y_train, epochs=epochs, batch_size=32, verbose=verbose)
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"speech_vowels: test accuracy {accuracy:.4f} vs chance {1 / len(VOWELS):.2f} "
          f"({len(y_test)} clips of unseen speakers)")
    return float(accuracy)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=15)
    main(parser.parse_args().epochs, verbose=2)
