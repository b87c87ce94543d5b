"""Trainable masks over a kernel's time axis and a layer's output channels.

Every mask keeps a real-valued NAS parameter per element and exposes two views:
``soft()``, the parameter clamped to [0, 1] (what cost models differentiate), and
``forward()``, the binarized mask (threshold 0.5) whose gradient passes straight
through to the soft view. Tap ``j`` always counts samples before the newest one, so
``j = 0`` is the current sample and is never masked.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

THRESHOLD = 0.5


def straight_through(soft: Tensor, hard: Tensor) -> Tensor:
    """``hard`` in the forward pass, the gradient of ``soft`` in the backward pass."""
    return soft + (hard.to(soft.dtype) - soft).detach()


def binarized(strength: Tensor, keep: Tensor) -> Tensor:
    """``keep`` (bool) in the forward pass, identity gradient to ``strength``.

    Equal in value and gradient to binarizing ``unit_clamp(strength)`` with
    :func:`straight_through`, in two autograd ops instead of six: the forward pass of
    every training step pays for these.
    """
    return keep.to(strength.dtype) + (strength - strength.detach())


def binarized_gate(strength: Tensor) -> Tensor:
    """Gates kept above the threshold, as 0/1 with an identity gradient."""
    return binarized(strength, strength.detach() > THRESHOLD)


def unit_clamp(x: Tensor) -> Tensor:
    """Clamp to [0, 1] without zeroing the gradient outside it.

    A plain clamp would freeze parameters initialised at "keep all" (1.0) or pushed
    past it by the optimizer: the regularizer could never pull them back.
    """
    return straight_through(x, x.clamp(0.0, 1.0))


def trailing_zeros(j: int) -> int:
    """Largest p with 2**p dividing j (j > 0)."""
    return (j & -j).bit_length() - 1


class Mask(nn.Module):
    """A mask's one NAS parameter (named by ``PARAM``): its own, or once packed, a slice
    of the flat parameter a :class:`~pit_lightning.nas.bank.MaskBank` holds for every
    mask of its kind, so that a network's masks are one parameter per kind."""

    PARAM = ""

    def pack(self, bank: nn.Module, start: int) -> Tensor:
        """Hand the parameter over to ``bank`` (from ``start`` in its flat parameter of
        this kind); returns its value."""
        value = self._parameters.pop(self.PARAM).detach()
        self.__dict__["_packed"] = (bank, start, start + len(value))
        return value

    def __getattr__(self, name: str) -> Tensor | nn.Module:
        packed = self.__dict__.get("_packed")
        if packed is not None and name == self.PARAM:
            bank, start, stop = packed
            return bank.get_parameter(name)[start:stop]
        return super().__getattr__(name)

    def margins(self) -> Tensor:
        """Per parameter element, how far the gate it sets is above the threshold:
        > 0 for an open gate that :meth:`close` can shut on its own, else ``-inf``."""
        raise NotImplementedError

    @torch.no_grad()
    def close(self, index: int) -> None:
        """Shut the gate parameter element ``index`` sets, by moving that element alone
        just to the threshold (a channel or dilation gate: to the threshold itself)."""
        getattr(self, self.PARAM)[index] = THRESHOLD

    @staticmethod
    def _open(strength: Tensor) -> Tensor:
        margin = strength - THRESHOLD
        return torch.where(margin > 0, margin, -torch.inf)


class DilationMask(Mask):
    """Power-of-two dilation over ``kernel_size`` taps, as a chain of gates.

    ``gamma[i - 1]`` (i = 1..levels) gates every tap whose index is not a multiple of
    2**i; so the taps kept at dilation 2**p are those with 2**p dividing j, anchored
    at the newest sample, which is what makes export exact for every kernel size.
    """

    PARAM = "gamma"

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.levels = max((kernel_size - 1).bit_length() - 1, 0)  # floor(log2(K - 1))
        self.gamma = nn.Parameter(torch.ones(self.levels))
        # A level (1..levels) imposed on the forward pass whatever gamma says: a
        # warmup that samples dilations sets it for one training step at a time.
        self.forced: int | None = None
        # gated[j, i - 1] is True when gamma_i gates tap j.
        gated = torch.zeros(kernel_size, self.levels, dtype=torch.bool)
        for j in range(1, kernel_size):
            gated[j, trailing_zeros(j) :] = True
        self.register_buffer("gated", gated, persistent=False)

    @property
    def dilations(self) -> tuple[int, ...]:
        return tuple(2**p for p in range(self.levels + 1))

    def _taps(self, gates: Tensor) -> Tensor:
        return torch.where(self.gated, gates.expand_as(self.gated), 1.0).prod(dim=1)

    def soft(self) -> Tensor:
        """Keep probability of each tap, shape (kernel_size,)."""
        return self._taps(unit_clamp(self.gamma.abs()))

    def forward(self) -> Tensor:
        strength = self.gamma.abs()
        if self.forced is None:
            return self._taps(binarized_gate(strength))
        keep = torch.ones_like(strength, dtype=torch.bool)
        keep[self.forced - 1] = False  # only this gate closed: dilation 2**forced
        return self._taps(binarized(strength, keep))

    def probabilities(self, binarized: bool = False) -> Tensor:
        """P(dilation == 2**p) for p = 0..levels under the soft gates (or the binarized
        ones, one-hot with straight-through gradients); sums to 1."""
        strength = self.gamma.abs()
        gates = binarized_gate(strength) if binarized else unit_clamp(strength)
        ones = gates.new_ones(1)
        # suffix[p] = prod_{i > p} gate_i: every coarser level lets the taps through.
        suffix = torch.cat([torch.flip(torch.cumprod(torch.flip(gates, [0]), 0), [0]), ones])
        return torch.cat([suffix[:1], (1.0 - gates) * suffix[1:]])

    def margins(self) -> Tensor:
        return self._open(self.gamma.detach().abs())

    def dilation(self) -> int:
        """The binarized dilation: 2**p for the coarsest closed gate p."""
        closed = (self.gamma.detach().abs() <= THRESHOLD).nonzero()
        return 2 ** (int(closed.max()) + 1) if len(closed) else 1


class ReceptiveFieldMask(Mask):
    """A contiguous window of taps ending at the newest sample.

    Tap j's keep value is theta_j = sum_{i >= j} |beta_i|, non-increasing in j, so the
    binarized mask is always a window [0, rf). The newest tap has no parameter.
    """

    PARAM = "beta"

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        self.kernel_size = kernel_size
        self.beta = nn.Parameter(torch.ones(kernel_size - 1))
        # theta = suffix_sum @ |beta|; row 0 (the newest tap) is empty, it is always kept.
        suffix_sum = torch.ones(kernel_size - 1, kernel_size - 1).triu()
        self.register_buffer(
            "suffix_sum", torch.cat([torch.zeros(1, kernel_size - 1), suffix_sum]),
            persistent=False,
        )
        newest = torch.zeros(kernel_size)
        newest[0] = 1.0
        self.register_buffer("newest", newest, persistent=False)

    def _theta(self) -> Tensor:
        return self.suffix_sum @ self.beta.abs()

    def soft(self) -> Tensor:
        return self.newest + unit_clamp(self._theta())

    def forward(self) -> Tensor:
        theta = self._theta()
        keep = (theta.detach() > THRESHOLD) | self.newest.bool()
        return binarized(theta, keep)

    def probabilities(self, binarized: bool = False) -> Tensor:
        """P(receptive field == r + 1) for r = 0..kernel_size - 1; sums to 1."""
        keep = self.forward() if binarized else self.soft()
        return keep - torch.cat([keep[1:], keep.new_zeros(1)])

    def receptive_field(self) -> int:
        return int((self.soft().detach() > THRESHOLD).sum())

    def margins(self) -> Tensor:
        # Only the window's oldest kept tap closes on its own: beta[j - 1] sets tap j.
        theta = self._theta().detach()[1:]
        margins = torch.full_like(theta, -torch.inf)
        rf = self.receptive_field()
        if rf > 1:
            margins[rf - 2] = theta[rf - 2] - THRESHOLD
        return margins

    @torch.no_grad()
    def close(self, index: int) -> None:
        # theta of the taps past this one sums to at most the threshold: top it up to it.
        beyond = float(self.beta[index + 1:].abs().sum())
        self.beta[index] = max(THRESHOLD - beyond - 1e-6, 0.0)  # under it, to rounding


class ChannelMask(Mask):
    """One gate per output channel; the strongest channel is kept alive unless
    ``may_empty`` (the head of a removable residual branch, whose emptying removes the
    branch).

    One instance may be shared by several layers whose outputs meet in a residual
    add, so that they keep the same channels.
    """

    PARAM = "alpha"

    def __init__(self, channels: int, may_empty: bool = False) -> None:
        super().__init__()
        self.alpha = nn.Parameter(torch.ones(channels))
        self.may_empty = may_empty

    def soft(self) -> Tensor:
        return unit_clamp(self.alpha.abs())

    def margins(self) -> Tensor:
        return self._open(self.alpha.detach().abs())

    def keep(self) -> Tensor:
        """Boolean mask of the channels the binarized architecture keeps."""
        strength = self.alpha.detach().abs()
        keep = strength > THRESHOLD
        if not self.may_empty:
            keep[strength.argmax()] = True
        return keep

    def forward(self) -> Tensor:
        return binarized(self.alpha.abs(), self.keep())
