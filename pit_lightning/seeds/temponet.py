"""TEMPONet (Zanghieri et al.), the PPG-Dalia heart-rate network, as an undilated seed.

Each dilated conv of the hand-tuned network (kernel 3, dilation 2, 4, 8) becomes an
undilated conv spanning the same receptive field (5, 9, 17): the searchable kernels
are ``[5, 5, 5, 9, 9, 17, 17]``. The strided convs that end blocks 2 and 3 are not
searched.
"""

from __future__ import annotations

from torch import Tensor, nn


def causal_conv(c_in: int, c_out: int, kernel_size: int, dilation: int = 1) -> nn.Sequential:
    """Left padding plus a valid conv: causal, with output length = input length."""
    return nn.Sequential(
        nn.ConstantPad1d(((kernel_size - 1) * dilation, 0), 0.0),
        nn.Conv1d(c_in, c_out, kernel_size, dilation=dilation),
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
    """4 x 256 windows (PPG + 3-axis accelerometer at 32 Hz) -> heart rate (BPM).

    ``hand_tuned=True`` builds the published network instead of the seed: kernel 3 at
    dilations 2, 4 and 8 where the seed has 5, 9 and 17 taps at dilation 1.
    """

    def __init__(
        self, in_channels: int = 4, window: int = 256, outputs: int = 1, hand_tuned: bool = False
    ) -> None:
        super().__init__()

        def searched(c_in: int, c_out: int, taps: int) -> nn.Sequential:
            if hand_tuned:
                return causal_conv(c_in, c_out, 3, (taps - 1) // 2)
            return causal_conv(c_in, c_out, taps)

        self.features = nn.Sequential(
            searched(in_channels, 32, 5),
            searched(32, 32, 5),
            searched(32, 64, 5),
            nn.AvgPool1d(2),
            searched(64, 64, 9),
            searched(64, 64, 9),
            strided_conv(64, 128, stride=2),
            nn.AvgPool1d(2),
            searched(128, 128, 17),
            searched(128, 128, 17),
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
