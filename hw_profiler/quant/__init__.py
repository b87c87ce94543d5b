"""int8 quantisation arithmetic shared by export code and the firmware tests."""

from .reference import (
    add_int8,
    add_params,
    avgpool1d_int8,
    conv1d_int8,
    conv_multipliers,
    dequantize,
    linear_int8,
    maxpool1d_int8,
    multiply_by_quantized_multiplier,
    quantize,
    quantize_multiplier,
    quantize_weights_per_channel,
    rdbp,
    requantize,
    srdhm,
)

__all__ = [
    "add_int8",
    "add_params",
    "avgpool1d_int8",
    "conv1d_int8",
    "conv_multipliers",
    "dequantize",
    "linear_int8",
    "maxpool1d_int8",
    "multiply_by_quantized_multiplier",
    "quantize",
    "quantize_multiplier",
    "quantize_weights_per_channel",
    "rdbp",
    "requantize",
    "srdhm",
]
