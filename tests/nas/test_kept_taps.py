"""The kept-taps convolution: the masked convolution's values and gradients, computed on
the taps a PIT time mask keeps."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import pit_lightning.nas.layer as layer_module
from nas.helpers import randomize_nas
from pit_lightning.cost.geometry import SEARCH_OPTIONS
from pit_lightning.nas import PIT, PITError
from pit_lightning.nas.kept_taps import kept_taps_conv1d
from pit_lightning.seeds import ResTCN


def mask(size: int, kept: list[int]) -> torch.Tensor:
    time = torch.zeros(size, dtype=torch.float64)
    time[kept] = 1.0
    return time


def doubles(seed: int):
    generator = torch.Generator().manual_seed(seed)
    return lambda *shape: torch.randn(*shape, generator=generator, dtype=torch.float64,
                                      requires_grad=True)


# (kernel size, kept taps in weight order): dilations ending at the newest tap, one
# tap, a receptive field cut short, and a pattern that is no dilation (full kernel).
PATTERNS = [(65, [0, 64]), (65, [16, 32, 48, 64]), (9, [8]), (9, [4, 6, 8]),
            (9, [2, 4, 6]), (9, [0, 1, 5, 8])]


@pytest.mark.parametrize(("size", "kept"), PATTERNS)
def test_values_and_gradients_match_the_masked_convolution(size, kept):
    random = doubles(size + len(kept))
    x, raw, bias = random(3, 5, 40 + size - 1), random(4, 5, size), random(4)
    time = mask(size, kept).requires_grad_()
    target = random(3, 4, 40).detach()

    def grads(conv):
        y = conv(x, raw * time, bias)
        loss = (y * target).sum()
        return (y, *torch.autograd.grad(loss, (x, raw, time, bias)))

    expected = grads(F.conv1d)
    got = grads(lambda x, w, b: kept_taps_conv1d(x, w, b, time))
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e)
    # A dropped tap's mask gradient is there (what lets the search bring it back).
    dropped = [j for j in range(size) if j not in kept]
    assert expected[3][dropped].abs().sum() > 0


@pytest.mark.parametrize(("size", "kept"), PATTERNS[:4])
def test_held_masks_skip_the_dropped_taps_gradient(size, kept):
    random = doubles(7)
    x, raw = random(2, 3, 30 + size - 1), random(4, 3, size)
    time = mask(size, kept)
    reference = torch.autograd.grad(F.conv1d(x, raw * time).square().sum(), (x, raw))
    got = torch.autograd.grad(
        kept_taps_conv1d(x, raw * time, None, time, dropped_grad=False).square().sum(),
        (x, raw))
    for e, g in zip(reference, got, strict=True):
        torch.testing.assert_close(g, e)  # the weights' gradient is zero there anyway


def network_grads(pit: PIT, x: torch.Tensor) -> dict[str, torch.Tensor]:
    pit.zero_grad()
    pit(x).square().mean().backward()
    return {name: p.grad.clone() for name, p in pit.named_parameters() if p.grad is not None}


@pytest.mark.parametrize("hold", [(), ("channels",), SEARCH_OPTIONS])
def test_a_pit_network_trains_as_with_the_full_kernels(monkeypatch, hold):
    """Every gradient of a searched ResTCN equals the full-kernel computation's (masks
    included while the time masks are searched; with them held, the masks' gradients
    are dropped by the training and only the weights' must match)."""
    torch.manual_seed(0)
    x = torch.randn(4, 3, 64)
    pit = PIT(ResTCN(3, 2, levels=3, channels=8, kernel_size=9, dropout=0.0), x).train()
    randomize_nas(pit, torch.Generator().manual_seed(3))
    pit.hold_masks(hold)
    assert sum(layer.kept_taps()[0] < layer.kernel_size for _, layer in pit.layers()) >= 2
    got = network_grads(pit, x)
    monkeypatch.setattr(layer_module, "kept_taps_conv1d",
                        lambda x, weight, bias, *_: F.conv1d(x, weight, bias))
    expected = network_grads(pit, x)
    masks = (".gamma", ".beta", ".alpha")
    time_held = {"dilation", "rf"} <= set(hold)
    assert got.keys() == expected.keys()
    for name in expected:
        if not (time_held and name.endswith(masks)):
            torch.testing.assert_close(got[name], expected[name], msg=name)


def test_hold_masks_tells_the_layers_whether_their_time_masks_learn():
    x = torch.randn(1, 3, 32)
    pit = PIT(ResTCN(3, 2, levels=2, channels=4), x)
    flags = lambda: {layer.time_searched for _, layer in pit.layers()}  # noqa: E731
    assert flags() == {True}
    pit.hold_masks(SEARCH_OPTIONS)
    assert flags() == {False}
    pit.hold_masks(("rf", "channels"))  # a dilation-first search
    assert flags() == {True}
    only_dilation = PIT(ResTCN(3, 2, levels=2, channels=4), x, search=["dilation"])
    only_dilation.hold_masks(("dilation",))
    assert {layer.time_searched for _, layer in only_dilation.layers()} == {False}
    with pytest.raises(PITError, match="unknown mask kind"):
        pit.hold_masks(("taps",))


def test_mixed_precision_trains_as_the_full_kernel_does():
    """Under CPU autocast (bf16-mixed) the backward convolutions read what the forward
    read, in one dtype, and give the full-kernel gradients."""
    random = doubles(5)
    x, raw = random(2, 3, 40).float().detach(), random(4, 3, 9).float().detach()
    time = mask(9, [4, 6, 8]).float()

    def grads(conv):
        inputs = [x.clone().requires_grad_(), raw.clone().requires_grad_(),
                  time.clone().requires_grad_()]
        with torch.autocast("cpu", dtype=torch.bfloat16):
            y = conv(inputs[0], inputs[1] * inputs[2])
        y.float().sum().backward()
        return y, *(t.grad for t in inputs)

    expected = grads(lambda x, w: F.conv1d(x, w))
    got = grads(lambda x, w: kept_taps_conv1d(x, w, None, time))
    assert got[0].dtype == torch.bfloat16
    for e, g in zip(expected, got, strict=True):
        torch.testing.assert_close(g, e)
