"""Layers, Keras names and arguments; each ``forward`` returns ``(y, backprop)``."""

from deepcore.layers.advanced_activations import ELU, LeakyReLU, PReLU, ReLU, Softmax
from deepcore.layers.attention import AdditiveAttention, Attention, MultiHeadAttention
from deepcore.layers.base import Layer, Variable
from deepcore.layers.convolutional import Conv1D, Conv2D, Conv3D, DepthwiseConv1D, DepthwiseConv2D
from deepcore.layers.conv_lstm import ConvLSTM1D, ConvLSTM2D, ConvLSTM3D
from deepcore.layers.convolutional_transpose import Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
from deepcore.layers.core import Activation, Dense, Identity, Input, InputLayer
from deepcore.layers.dropout import AlphaDropout, Dropout, SpatialDropout1D, SpatialDropout2D, SpatialDropout3D
from deepcore.layers.einsum_dense import EinsumDense
from deepcore.layers.embedding import Embedding
from deepcore.layers.masking import Masking
from deepcore.layers.merging import (
    Add, Average, Concatenate, Dot, Maximum, Merge, Minimum, Multiply, Subtract, add, average, concatenate, dot,
    maximum, minimum, multiply, subtract,
)
from deepcore.layers.noise import ActivityRegularization, GaussianDropout, GaussianNoise
from deepcore.layers.normalization import (
    BatchNormalization, GroupNormalization, LayerNormalization, RMSNormalization, UnitNormalization,
)
from deepcore.layers.padding import (
    Cropping1D, Cropping2D, Cropping3D, UpSampling1D, UpSampling2D, UpSampling3D, ZeroPadding1D, ZeroPadding2D,
    ZeroPadding3D,
)
from deepcore.layers.pooling import (
    AveragePooling1D, AveragePooling2D, AveragePooling3D, GlobalAveragePooling1D, GlobalAveragePooling2D,
    GlobalAveragePooling3D, GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D, MaxPooling1D,
    MaxPooling2D, MaxPooling3D,
)
from deepcore.layers.image_augmentation import (
    RandomBrightness, RandomContrast, RandomCrop, RandomFlip, RandomRotation, RandomTranslation, RandomZoom,
)
from deepcore.layers.image_preprocessing import CenterCrop, Resizing
from deepcore.layers.preprocessing import Normalization, Rescaling
from deepcore.layers.recurrent import GRU, LSTM, SimpleRNN
from deepcore.layers.reshaping import Flatten, Permute, RepeatVector, Reshape
from deepcore.layers.rnn import RNN, GRUCell, LSTMCell, SimpleRNNCell, StackedRNNCells
from deepcore.layers.wrappers import Bidirectional, SeparableConv1D, SeparableConv2D, TimeDistributed

# Keras's other names for the same layers.
AvgPool1D, AvgPool2D, AvgPool3D = AveragePooling1D, AveragePooling2D, AveragePooling3D
MaxPool1D, MaxPool2D, MaxPool3D = MaxPooling1D, MaxPooling2D, MaxPooling3D
GlobalAvgPool1D, GlobalAvgPool2D, GlobalAvgPool3D = GlobalAveragePooling1D, GlobalAveragePooling2D, GlobalAveragePooling3D
GlobalMaxPool1D, GlobalMaxPool2D, GlobalMaxPool3D = GlobalMaxPooling1D, GlobalMaxPooling2D, GlobalMaxPooling3D
Convolution1D, Convolution2D, Convolution3D = Conv1D, Conv2D, Conv3D
Convolution1DTranspose, Convolution2DTranspose, Convolution3DTranspose = Conv1DTranspose, Conv2DTranspose, Conv3DTranspose
SeparableConvolution1D, SeparableConvolution2D = SeparableConv1D, SeparableConv2D

__all__ = ["Layer", "Variable", "Input", "InputLayer", "Dense", "Activation", "Dropout", "Flatten", "Reshape",
           "Conv1D", "Conv2D", "MaxPooling1D", "MaxPooling2D", "AveragePooling1D", "AveragePooling2D",
           "GlobalAveragePooling1D", "GlobalAveragePooling2D", "GlobalMaxPooling1D", "GlobalMaxPooling2D",
           "GaussianNoise", "BatchNormalization", "LayerNormalization", "Normalization",
           "Embedding", "SimpleRNN", "LSTM", "GRU", "RNN", "SimpleRNNCell", "LSTMCell", "GRUCell", "StackedRNNCells",
           "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D",
           "ZeroPadding1D", "ZeroPadding2D", "UpSampling1D",
           "UpSampling2D", "Bidirectional", "TimeDistributed", "Masking", "Permute", "RepeatVector",
           "Cropping1D", "Cropping2D", "ReLU", "LeakyReLU", "PReLU", "ELU", "Softmax",
           "Conv1DTranspose", "Conv2DTranspose", "SpatialDropout1D", "SpatialDropout2D", "GaussianDropout",
           "ActivityRegularization", "DepthwiseConv1D", "DepthwiseConv2D",
           "SeparableConv1D", "SeparableConv2D", "Conv3D", "Conv3DTranspose", "MaxPooling3D",
           "AveragePooling3D", "GlobalAveragePooling3D", "GlobalMaxPooling3D", "UpSampling3D", "ZeroPadding3D",
           "Cropping3D", "SpatialDropout3D", "Rescaling", "RandomFlip", "Resizing",
           "CenterCrop", "RandomRotation", "RandomTranslation", "RandomZoom",
           "RandomCrop", "RandomContrast", "RandomBrightness",
           "Merge", "Add", "Subtract", "Multiply", "Average", "Maximum", "Minimum", "Concatenate", "Dot",
           "add", "subtract", "multiply", "average", "maximum", "minimum", "concatenate", "dot",
           "Identity", "AlphaDropout", "GroupNormalization", "RMSNormalization", "UnitNormalization",
           "AvgPool1D", "AvgPool2D", "AvgPool3D", "MaxPool1D", "MaxPool2D", "MaxPool3D",
           "GlobalAvgPool1D", "GlobalAvgPool2D", "GlobalAvgPool3D", "GlobalMaxPool1D", "GlobalMaxPool2D",
           "GlobalMaxPool3D", "Convolution1D", "Convolution2D", "Convolution3D", "Convolution1DTranspose",
           "Convolution2DTranspose", "Convolution3DTranspose", "SeparableConvolution1D", "SeparableConvolution2D",
           "MultiHeadAttention", "Attention", "AdditiveAttention", "EinsumDense"]
