"""A masked convolution that computes only the taps its time mask keeps.

PIT masks the seed's full kernel, so a layer searched down to ``k = 2, d = 64`` out of
65 taps still pays for 65 in every step. The kept taps of a PIT time mask are evenly
spaced (a dilation inside a receptive field), so the same output is a dilated
convolution over a slice of the input. What a dropped tap still needs is the gradient
of its weight slot while its mask is being searched: the mask's straight-through
gradient reads it, and it is how a dropped tap can come back. So during the search the
weight gradient is taken over the full kernel, and only the forward pass and the input
gradient shrink; once the time masks are held still (warmup, fine-tune, evaluation),
everything is computed on the kept taps.

Only on the CPU, and not inside ``torch.compile``: finding the kept taps reads the mask
on the host, which on an accelerator would stall the launch queue once per layer (and
breaks a compiled graph), and there the extra taps are cheap.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import FunctionCtx, once_differentiable


def kept_taps_conv1d(x: Tensor, weight: Tensor, bias: Tensor | None, time: Tensor | None,
                     dropped_grad: bool = True) -> Tensor:
    """``F.conv1d(x, weight, bias)`` where ``weight`` is zero at the taps ``time``
    (weight order, oldest tap first) drops.

    ``dropped_grad``: whether the weight's gradient must cover the dropped taps too
    (their masks are searched); without it their slots get a zero gradient, which is
    what the masked weight gives the network's weights anyway.
    """
    if time is None or time.device.type != "cpu" or torch.compiler.is_compiling():
        return F.conv1d(x, weight, bias)
    kept = time.detach().nonzero().flatten().tolist()
    size = weight.shape[-1]
    if len(kept) in (0, size):
        return F.conv1d(x, weight, bias)
    first, last = kept[0], kept[-1]
    step = kept[1] - first if len(kept) > 1 else 1
    if kept != list(range(first, last + 1, step)):
        return F.conv1d(x, weight, bias)  # not a dilation: nothing to gain
    end = x.shape[-1] - (size - 1 - last)  # the input the kept taps read ends here
    if dropped_grad and torch.is_grad_enabled() and weight.requires_grad:
        return _KeptTaps.apply(x, weight, bias, first, last, step, end)
    return F.conv1d(x[..., first:end], weight[..., first:last + 1:step], bias, dilation=step)


class _KeptTaps(torch.autograd.Function):
    """Forward and input gradient on the kept taps, weight gradient on all of them."""

    @staticmethod
    def forward(ctx: FunctionCtx, x: Tensor, weight: Tensor, bias: Tensor | None,
                first: int, last: int, step: int, end: int) -> Tensor:
        device = x.device.type
        if torch.is_autocast_enabled(device):
            # Save what the convolution reads (autocast would cast it), so that the
            # backward convolutions see one dtype.
            dtype = torch.get_autocast_dtype(device)
            x, weight = x.to(dtype), weight.to(dtype)
            bias = bias.to(dtype) if bias is not None else None
        ctx.save_for_backward(x, weight)
        ctx.taps = (first, last, step, end)
        return F.conv1d(x[..., first:end], weight[..., first:last + 1:step], bias,
                        dilation=step)

    @staticmethod
    @once_differentiable
    def backward(ctx: FunctionCtx, grad: Tensor) -> tuple[Tensor | None, ...]:
        x, weight = ctx.saved_tensors
        first, last, step, end = ctx.taps
        grad_x = grad_weight = grad_bias = None
        if ctx.needs_input_grad[0]:
            part = torch.nn.grad.conv1d_input(
                (x.shape[0], x.shape[1], end - first), weight[..., first:last + 1:step],
                grad, dilation=step)
            grad_x = F.pad(part, (first, x.shape[-1] - end))
        if ctx.needs_input_grad[1]:
            grad_weight = torch.nn.grad.conv1d_weight(x, weight.shape, grad)
        if ctx.needs_input_grad[2]:
            grad_bias = grad.sum(dim=(0, 2))
        return grad_x, grad_weight, grad_bias, None, None, None, None
