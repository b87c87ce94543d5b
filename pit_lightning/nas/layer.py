"""PITConv1d: a Conv1d whose kernel time axis and output channels are searchable."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .kept_taps import kept_taps_conv1d
from .masks import ChannelMask, DilationMask, ReceptiveFieldMask

LayerMasks = tuple[Tensor | None, Tensor | None, tuple[Tensor, Tensor] | None, Tensor | None]
"""A layer's masks: time mask in weight order (oldest tap first), channel keep values,
its BatchNorm's affine terms scaled by them, and whether the layer's removable branch
is alive (0 or 1, the tail of a :class:`~pit_lightning.nas.convert.Branch`); each None
when not searched (or, for the affine terms, not computed)."""


class PITConv1d(nn.Module):
    """A stride-1 ``nn.Conv1d`` under PIT masks, optionally followed by its BatchNorm.

    The seed conv is re-expressed as "pad ``(left, right)``, then a valid convolution",
    which covers causal convs, Bai-style symmetric padding plus chomp, and ``'same'``.
    Forward::

        y = out_mask * bn(conv1d(pad(x), weight * time_mask))

    where ``time_mask = dilation_mask * rf_mask`` over taps counted from the newest.
    The convolution computes only the kept taps (:func:`kept_taps_conv1d`); while
    :attr:`time_searched`, the weight gradient still covers the dropped ones.
    """

    def __init__(
        self,
        conv: nn.Conv1d,
        padding: tuple[int, int],
        bn: nn.BatchNorm1d | None = None,
        out_mask: ChannelMask | None = None,
        search_dilation: bool = True,
        search_rf: bool = True,
    ) -> None:
        super().__init__()
        self.conv = conv
        self.padding = padding
        self.bn = bn
        self.out_mask = out_mask
        kernel_size = conv.kernel_size[0]
        self.dilation_mask = DilationMask(kernel_size) if search_dilation else None
        self.rf_mask = ReceptiveFieldMask(kernel_size) if search_rf else None
        # The tail of a removable branch reads its head's mask (another layer's module,
        # so not registered here): no head channel left, no output.
        object.__setattr__(self, "head_mask", None)
        # False while the time masks are held still (PIT.hold_masks): a dropped tap's
        # weight slot then needs no gradient.
        self.time_searched = True

    @property
    def kernel_size(self) -> int:
        return self.conv.kernel_size[0]

    @property
    def in_channels(self) -> int:
        return self.conv.in_channels

    @property
    def out_channels(self) -> int:
        return self.conv.out_channels

    def time_mask(self) -> Tensor:
        """Binarized keep mask per tap, index j = j samples before the newest."""
        mask = self.conv.weight.new_ones(self.kernel_size)
        if self.dilation_mask is not None:
            mask = mask * self.dilation_mask()
        if self.rf_mask is not None:
            mask = mask * self.rf_mask()
        return mask

    def soft_time_mask(self) -> Tensor:
        mask = self.conv.weight.new_ones(self.kernel_size)
        if self.dilation_mask is not None:
            mask = mask * self.dilation_mask.soft()
        if self.rf_mask is not None:
            mask = mask * self.rf_mask.soft()
        return mask

    def forward(self, x: Tensor, masks: LayerMasks | None = None) -> Tensor:
        """``masks``: this layer's masks as :class:`~pit_lightning.nas.bank.MaskBank`
        evaluates them for the whole network; without them the layer evaluates its own."""
        if masks is None:
            # The weight's last index is the newest tap, hence the flip.
            time = torch.flip(self.time_mask(), [0]) if self.has_time_mask else None
            keep = self.out_mask() if self.out_mask is not None else None
            alive = None
            if self.head_mask is not None:
                alive = self.head_mask.keep().any().to(self.conv.weight.dtype)
            masks = (time, keep, None, alive)
        time, keep, affine, alive = masks
        weight, bias = self.conv.weight, self.conv.bias
        if keep is not None and self.bn is None:
            # Scaling the conv's own terms costs no pass over the activations.
            scale = keep[:, None, None] if time is None else keep[:, None, None] * time
            weight = weight * scale
            bias = bias * keep if bias is not None else None
        elif time is not None:
            weight = weight * time
        if alive is not None and bias is not None and self.bn is None:
            # A removed branch's input is all zeros: its bias alone would leak through.
            bias = bias * alive
        y = kept_taps_conv1d(F.pad(x, self.padding), weight, bias, time, self.time_searched)
        if self.bn is not None:
            y = batch_norm(self.bn, y, keep, affine)
            if alive is not None:
                y = y * alive
        return y

    @property
    def has_time_mask(self) -> bool:
        return self.dilation_mask is not None or self.rf_mask is not None

    def kept_taps(self) -> tuple[int, int]:
        """(taps, dilation) of the binarized kernel."""
        rf = self.rf_mask.receptive_field() if self.rf_mask is not None else self.kernel_size
        dilation = self.dilation_mask.dilation() if self.dilation_mask is not None else 1
        taps = (rf - 1) // dilation + 1
        return taps, (dilation if taps > 1 else 1)

    def out_keep(self) -> Tensor:
        if self.out_mask is None:
            return torch.ones(self.out_channels, dtype=torch.bool, device=self.conv.weight.device)
        return self.out_mask.keep()

    def export(self, in_keep: Tensor) -> dict[str, nn.Module]:
        """The plain layers computing what this one computes in eval mode, in order:
        ``pad`` (when needed), ``conv`` and ``bn`` (when the seed had one).

        ``in_keep`` says which input channels survive upstream; the dropped ones are
        zero in this layer's input, so slicing them out is exact.
        """
        taps, dilation = self.kept_taps()
        out_idx = self.out_keep().nonzero().flatten()
        in_idx = in_keep.nonzero().flatten()
        newest = self.kernel_size - 1
        time_idx = torch.tensor([newest - (taps - 1 - i) * dilation for i in range(taps)])
        conv = nn.Conv1d(
            len(in_idx), len(out_idx), taps, dilation=dilation, bias=self.conv.bias is not None
        ).to(self.conv.weight.device, self.conv.weight.dtype)
        with torch.no_grad():
            weight = self.conv.weight.detach()[out_idx][:, in_idx][:, :, time_idx]
            conv.weight.copy_(weight)
            if self.conv.bias is not None:
                conv.bias.copy_(self.conv.bias.detach()[out_idx])
        # The seed padded for its full kernel; the exported kernel reaches back
        # (taps - 1) * dilation samples, so the left padding shrinks (or crops).
        left = self.padding[0] - (self.kernel_size - 1) + (taps - 1) * dilation
        layers: dict[str, nn.Module] = {}
        if left or self.padding[1]:
            layers["pad"] = nn.ConstantPad1d((left, self.padding[1]), 0.0)
        layers["conv"] = conv
        if self.bn is not None:
            layers["bn"] = slice_batchnorm(self.bn, out_idx)
        return layers

    def extra_repr(self) -> str:
        return f"padding={self.padding}"


def batch_norm(bn: nn.BatchNorm1d, x: Tensor, scale: Tensor | None,
               affine: tuple[Tensor, Tensor] | None = None) -> Tensor:
    """``bn(x) * scale[:, None]``, with the scale folded into the affine terms.

    Folding saves a pass over the activations; the running statistics are updated
    exactly as ``bn.forward`` would. ``affine``: the scaled (weight, bias), when they
    were computed already.
    """
    if scale is None:
        return bn(x)
    momentum = 0.0 if bn.momentum is None else bn.momentum
    if bn.training and bn.track_running_stats:
        bn.num_batches_tracked.add_(1)
        if bn.momentum is None:
            momentum = 1.0 / float(bn.num_batches_tracked)
    use_batch_stats = bn.training or bn.running_mean is None
    if affine is None:
        affine = (bn.weight * scale, bn.bias * scale) if bn.affine else (scale, None)
    weight, bias = affine
    return F.batch_norm(
        x,
        bn.running_mean if not bn.training or bn.track_running_stats else None,
        bn.running_var if not bn.training or bn.track_running_stats else None,
        weight, bias, use_batch_stats, momentum, bn.eps,
    )


def slice_batchnorm(bn: nn.BatchNorm1d, keep: Tensor) -> nn.BatchNorm1d:
    """A BatchNorm1d over the kept channels with the same statistics and affine terms."""
    out = nn.BatchNorm1d(
        len(keep), eps=bn.eps, momentum=bn.momentum, affine=bn.affine,
        track_running_stats=bn.track_running_stats,
    ).to(bn.weight.device if bn.affine else keep.device)
    with torch.no_grad():
        if bn.affine:
            out.weight.copy_(bn.weight.detach()[keep])
            out.bias.copy_(bn.bias.detach()[keep])
        if bn.track_running_stats:
            out.running_mean.copy_(bn.running_mean[keep])
            out.running_var.copy_(bn.running_var[keep])
            out.num_batches_tracked.copy_(bn.num_batches_tracked)
    return out
