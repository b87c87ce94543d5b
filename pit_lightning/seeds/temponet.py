"""TEMPONet (Zanghieri et al.), the PPG-Dalia heart-rate network, as an undilated seed.

Each dilated conv of the hand-tuned network (kernel 3, dilation 2, 4, 8) becomes an
undilated conv spanning the same receptive field (5, 9, 17): the searchable kernels
are ``[5, 5, 5, 9, 9, 17, 17]``. The strided convs that end blocks 2 and 3 are not
searched.
"""

from __future__ import annotations

from torch import Tensor, nn


def causal_conv(c_in: int, c_out: int, kernel_size: int) -> nn.Sequential:
    """Left padding plus a valid conv: causal, with output length = input length."""
    return nn.Sequential(
        nn.ConstantPad1d((kernel_size - 1, 0), 0.0),
        nn.Conv1d(c_in, c_out, kernel_size),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    )


def strided_conv(c_in: int, c_out: int, stride: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv1d(c_in, c_out, 5, stride=stride, padding=2),
        nn.BatchNorm1d(c_out),
        nn.ReLU(),
    )


class TEMPONet(nn.Module):
    """4 x 256 windows (PPG + 3-axis accelerometer at 32 Hz) -> heart rate (BPM)."""

    def __init__(self, in_channels: int = 4, window: int = 256, outputs: int = 1) -> None:
        super().__init__()
        self.features = nn.Sequential(
            causal_conv(in_channels, 32, 5),
            causal_conv(32, 32, 5),
            causal_conv(32, 64, 5),
            nn.AvgPool1d(2),
            causal_conv(64, 64, 9),
            causal_conv(64, 64, 9),
            strided_conv(64, 128, stride=2),
            nn.AvgPool1d(2),
            causal_conv(128, 128, 17),
            causal_conv(128, 128, 17),
            strided_conv(128, 128, stride=4),
            nn.AvgPool1d(2),
        )
        length = window // 2 // 2 // 2 // 4 // 2
        self.head = nn.Sequential(
            nn.Flatten(),
            nn.Linear(128 * length, 256),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(256, 128),
            nn.ReLU(),
            nn.Dropout(0.5),
            nn.Linear(128, outputs),
        )

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.features(x)).squeeze(-1)
