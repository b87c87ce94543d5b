"""ResTCN (Bai et al., 2018) for polyphonic music, as an undilated seed.

Written the way most TCN code in the wild is: symmetric padding then a "chomp" that
drops the right-hand samples, and a 1x1 downsample conv on the residual path when
the channel count changes. Level i of the hand-tuned network has kernel k and
dilation 2**i; the seed replaces it with kernel (k - 1) * 2**i + 1 at dilation 1, the
same receptive field. ``dilations=`` builds the hand-tuned network itself, the
baseline a search should beat.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn


class Chomp1d(nn.Module):
    """Drops the last ``size`` time steps (the right-hand padding)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.size = size

    def forward(self, x: Tensor) -> Tensor:
        return x[:, :, : -self.size].contiguous()


class TemporalBlock(nn.Module):
    def __init__(
        self, c_in: int, c_out: int, kernel_size: int, dropout: float, dilation: int = 1
    ) -> None:
        super().__init__()
        pad = (kernel_size - 1) * dilation
        self.net = nn.Sequential(
            nn.Conv1d(c_in, c_out, kernel_size, padding=pad, dilation=dilation),
            Chomp1d(pad),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Conv1d(c_out, c_out, kernel_size, padding=pad, dilation=dilation),
            Chomp1d(pad),
            nn.ReLU(),
            nn.Dropout(dropout),
        )
        self.downsample = nn.Conv1d(c_in, c_out, 1) if c_in != c_out else None
        self.relu = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        residual = x if self.downsample is None else self.downsample(x)
        return self.relu(self.net(x) + residual)


class ResTCN(nn.Module):
    """A stack of temporal blocks and a per-step 1x1 output conv; (B, C, T) -> (B, K, T).

    Args:
        levels, channels, kernel_size, dropout: as in Bai et al.
        dilations: one dilation per level for the hand-designed network (each level
            keeps ``kernel_size`` taps), e.g. ``[1, 2, 4]``; None builds the undilated
            seed, whose level i has ``(kernel_size - 1) * 2**i + 1`` taps at dilation 1.
    """

    def __init__(
        self,
        in_channels: int = 88,
        out_channels: int = 88,
        levels: int = 2,
        channels: int = 150,
        kernel_size: int = 3,
        dropout: float = 0.5,
        dilations: Sequence[int] | None = None,
    ) -> None:
        super().__init__()
        if dilations is not None and (
            len(dilations) != levels or any(int(d) < 1 for d in dilations)
        ):
            raise ValueError(
                f"dilations must give one positive dilation per level ({levels}), "
                f"got {list(dilations)}"
            )
        blocks = []
        for i in range(levels):
            c_in = in_channels if i == 0 else channels
            if dilations is None:
                block = TemporalBlock(c_in, channels, (kernel_size - 1) * 2**i + 1, dropout)
            else:
                block = TemporalBlock(c_in, channels, kernel_size, dropout, int(dilations[i]))
            blocks.append(block)
        self.blocks = nn.Sequential(*blocks)
        self.output = nn.Conv1d(channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.output(self.blocks(x))


def restcn_jsb(**overrides) -> ResTCN:
    """JSB Chorales setting: 2 levels of 150 channels, kernel 3 (seed kernels 3, 5)."""
    return ResTCN(**{"levels": 2, "channels": 150, "kernel_size": 3, **overrides})


def restcn_nottingham(**overrides) -> ResTCN:
    """Nottingham setting: 4 levels of 150 channels, kernel 6 (seed kernels 6..41)."""
    return ResTCN(**{"levels": 4, "channels": 150, "kernel_size": 6, **overrides})
