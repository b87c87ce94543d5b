"""Exported networks compute exactly what the PIT network computes."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from pit_lightning.nas import PIT, PITConv1d
from pit_lightning.seeds import TEMPONet, restcn_jsb, restcn_nottingham

from .helpers import CausalStack, Concat, perturb_batchnorm, randomize_nas


def assert_export_exact(pit: PIT, x: torch.Tensor) -> nn.Module:
    pit.eval()
    exported = pit.export().eval()
    with torch.no_grad():
        expected, got = pit(x), exported(x)
    assert got.shape == expected.shape
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-5)
    return exported


@pytest.mark.parametrize("kernel_size", range(2, 34))
@pytest.mark.parametrize("batchnorm", [False, True])
def test_every_kernel_size_exports_exactly(kernel_size, batchnorm):
    gen = torch.Generator().manual_seed(kernel_size * 2 + batchnorm)
    seed = CausalStack(kernel_size, batchnorm)
    perturb_batchnorm(seed, gen)
    x = torch.randn(2, 3, 40, generator=gen)
    pit = PIT(seed, x)
    for _ in range(3):
        randomize_nas(pit, gen)
        exported = assert_export_exact(pit, x)
        for module in exported.modules():
            assert not isinstance(module, PITConv1d)
            if isinstance(module, nn.Conv1d):
                assert module.kernel_size[0] >= 1 and module.out_channels >= 1


def test_bai_chomp_blocks_export_causally():
    gen = torch.Generator().manual_seed(0)
    seed = restcn_jsb(channels=12, in_channels=10, out_channels=10, dropout=0.0)
    x = torch.randn(3, 10, 30, generator=gen)
    pit = PIT(seed, x)
    randomize_nas(pit, gen)
    exported = assert_export_exact(pit, x)
    # No layer keeps the seed's symmetric padding: the future never leaks in.
    y = exported(x)
    x2 = x.clone()
    x2[:, :, 20:] += 1.0
    torch.testing.assert_close(exported(x2)[:, :, :20], y[:, :, :20])
    for module in exported.modules():
        if isinstance(module, nn.Conv1d):
            assert module.padding == (0,)


@pytest.mark.filterwarnings("ignore::pit_lightning.nas.UnsearchedLayerWarning")
@pytest.mark.parametrize(
    "make_seed, shape",
    [
        (lambda: TEMPONet(), (2, 4, 256)),
        (lambda: restcn_jsb(dropout=0.0), (2, 88, 24)),
        (lambda: restcn_nottingham(channels=32, dropout=0.0), (2, 88, 50)),
    ],
    ids=["temponet", "restcn-jsb", "restcn-nottingham"],
)
def test_seeds_export_exactly(make_seed, shape):
    gen = torch.Generator().manual_seed(1)
    seed = make_seed()
    perturb_batchnorm(seed, gen)
    x = torch.randn(*shape, generator=gen)
    pit = PIT(seed, x)
    for _ in range(2):
        randomize_nas(pit, gen)
        assert_export_exact(pit, x)


def test_concatenation_and_same_padding():
    gen = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 33, generator=gen)
    pit = PIT(Concat(), x)
    randomize_nas(pit, gen)
    assert_export_exact(pit, x)

    same = nn.Sequential(
        nn.Conv1d(3, 5, 8, padding="same"), nn.ReLU(), nn.Conv1d(5, 2, 7, padding=3)
    )
    pit = PIT(same, x)
    randomize_nas(pit, gen)
    assert_export_exact(pit, x)


def test_keep_all_export_is_the_seed():
    x = torch.randn(2, 3, 20)
    seed = CausalStack(9, batchnorm=True).eval()
    pit = PIT(seed, x).eval()
    torch.testing.assert_close(pit(x), seed(x), rtol=0, atol=1e-5)
    torch.testing.assert_close(pit.export().eval()(x), seed(x), rtol=0, atol=1e-5)


def test_exported_network_holds_no_nas_parameters():
    x = torch.randn(2, 3, 20)
    pit = PIT(CausalStack(9, batchnorm=True), x)
    exported = pit.export()
    names = [name for name, _ in exported.named_parameters()]
    assert names and not any(n.endswith((".alpha", ".beta", ".gamma")) for n in names)
    nas = {id(p) for p in pit.nas_parameters()}
    assert not nas & {id(p) for p in exported.parameters()}


@pytest.mark.parametrize("momentum", [0.1, None])
def test_training_mode_matches_the_seed_and_its_batchnorm_statistics(momentum):
    x = torch.randn(4, 3, 20)
    seed = CausalStack(9, batchnorm=True)
    for module in seed.modules():
        if isinstance(module, nn.BatchNorm1d):
            module.momentum = momentum
    pit = PIT(seed, x).train()
    seed.train()
    for _ in range(3):
        torch.testing.assert_close(pit(x), seed(x), rtol=0, atol=1e-5)
    bn_seed = seed.first[2]
    bn_pit = pit.model.get_submodule("first.1").bn
    torch.testing.assert_close(bn_pit.running_mean, bn_seed.running_mean)
    torch.testing.assert_close(bn_pit.running_var, bn_seed.running_var)
    assert int(bn_pit.num_batches_tracked) == 3


def test_export_leaves_the_random_stream_alone():
    """A run exports its candidate every search epoch: that must not shift the
    training's dropout and shuffling (new layers' default init draws random numbers)."""
    pit = PIT(restcn_jsb(channels=8), torch.zeros(1, 88, 16))
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    pit.export()
    assert torch.equal(torch.rand(4), expected)
