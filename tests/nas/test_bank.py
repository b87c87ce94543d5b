"""The batched mask evaluation equals the layer-by-layer one, and captures in one graph."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pit_lightning.cost import ParamsCost, SoftLayer
from pit_lightning.nas import PIT
from pit_lightning.nas.convert import MASKS
from pit_lightning.seeds import ResTCN, TEMPONet

from .helpers import CausalStack, Concat, randomize_nas

pytestmark = pytest.mark.filterwarnings("ignore::pit_lightning.nas.UnsearchedLayerWarning")


def layerwise(pit: PIT) -> PIT:
    """A copy of ``pit`` whose layers evaluate their own masks, one layer at a time."""
    reference = copy.deepcopy(pit)
    layers = len(list(reference.layers()))
    reference.model.get_submodule(MASKS).forward = lambda: (None,) * layers
    return reference


def layerwise_soft_layers(pit: PIT) -> list[SoftLayer]:
    """Each layer's soft state from its own mask modules (no batching)."""
    layers = []
    for space, (name, layer) in zip(pit.search_space(), pit.layers(), strict=True):
        parts = []
        for owner, size in pit._sources[name]:
            mask = pit.model.get_submodule(owner).out_mask if owner else None
            parts.append(mask.soft() if mask is not None else torch.ones(size))
        out = layer.out_mask.soft() if layer.out_mask is not None else torch.ones(
            layer.out_channels)
        layers.append(SoftLayer(space, layer, torch.cat(parts), out, layer.soft_time_mask()))
    return layers


SEEDS = [
    (lambda: CausalStack(17, batchnorm=True), (2, 3, 40), False),
    (lambda: CausalStack(6, batchnorm=False), (2, 3, 40), False),
    (lambda: Concat(), (2, 3, 33), False),
    (lambda: ResTCN(levels=3, channels=8, kernel_size=5, dropout=0.0), (2, 88, 24), False),
    (lambda: ResTCN(levels=3, channels=8, kernel_size=5, dropout=0.0), (2, 88, 24), True),
    (lambda: TEMPONet(), (2, 4, 256), False),
]


@pytest.mark.parametrize("make_seed, shape, drop_blocks", SEEDS,
                         ids=["stack-bn", "stack", "concat", "restcn", "restcn-drop-blocks",
                              "temponet"])
def test_batched_masks_equal_the_layers_own(make_seed, shape, drop_blocks):
    gen = torch.Generator().manual_seed(4)
    x = torch.randn(*shape, generator=gen)
    pit = PIT(make_seed(), x, drop_blocks=drop_blocks)
    tails = {b.tail: b.head for b in pit.branches()}
    bank = pit.model.get_submodule(MASKS)
    for trial in range(4):
        randomize_nas(pit, gen)
        if trial == 3:  # ties below the threshold: the first strongest channel stays
            with torch.no_grad():
                for _, layer in pit.layers():
                    if layer.out_mask is not None:
                        layer.out_mask.alpha.fill_(0.25)
        for (name, layer), (time, keep, affine, alive) in zip(pit.layers(), bank(),
                                                              strict=True):
            if name in tails:
                head = pit.model.get_submodule(tails[name]).out_mask
                assert float(alive) == float(head.keep().any())
            else:
                assert alive is None
            if layer.has_time_mask:
                assert torch.equal(time, torch.flip(layer.time_mask(), [0]))
            else:
                assert time is None
            if layer.out_mask is not None:
                assert torch.equal(keep, layer.out_mask())
            else:
                assert keep is None
            if layer.out_mask is not None and layer.bn is not None:
                assert torch.equal(affine[0], layer.bn.weight * keep)
                assert torch.equal(affine[1], layer.bn.bias * keep)
            else:
                assert affine is None
        for batched, own in zip(pit.soft_layers(), layerwise_soft_layers(pit), strict=True):
            for name in ("in_keep", "out_keep", "tap_keep"):
                torch.testing.assert_close(getattr(batched, name), getattr(own, name),
                                           rtol=0, atol=1e-6)
        pit.eval()
        torch.testing.assert_close(pit(x), layerwise(pit).eval()(x), rtol=0, atol=1e-5)
        pit.train()


def test_forced_dilations_reach_the_batched_masks():
    pit = PIT(TEMPONet(), torch.randn(1, 4, 256))
    bank = pit.model.get_submodule(MASKS)
    layers = [layer for _, layer in pit.layers()]
    layers[0].dilation_mask.forced = 1
    layers[5].dilation_mask.forced = 3
    for layer, (time, *_) in zip(layers, bank(), strict=True):
        assert torch.equal(time, torch.flip(layer.time_mask(), [0]))
    assert layers[5].kernel_size == 17 and bank()[5][0].nonzero().flatten().tolist() == [0, 8, 16]


def test_search_finds_the_same_architecture_as_layer_by_layer_masks():
    """Same seed, data and optimizer: the batched path and the per-layer path move the
    masks alike and binarize to the same architecture at every step."""
    torch.manual_seed(0)
    seed = ResTCN(levels=3, channels=8, kernel_size=9, dropout=0.0)
    x, y = torch.randn(8, 88, 24), torch.randn(8, 88, 24)
    batched = PIT(seed, x, cost="params")
    reference = layerwise(batched)
    cost = ParamsCost()

    def optimizer(pit: PIT) -> torch.optim.Optimizer:
        return torch.optim.Adam([{"params": list(pit.net_parameters())},
                                 {"params": list(pit.nas_parameters()), "lr": 0.05}], lr=1e-3)

    runs = [(batched, optimizer(batched), lambda: batched.cost),
            (reference, optimizer(reference),
             lambda: torch.stack([cost.soft(s) for s in layerwise_soft_layers(reference)]).sum())]
    archs: list[list] = [[], []]
    for _ in range(40):
        for i, (pit, opt, soft_cost) in enumerate(runs):
            opt.zero_grad()
            loss = nn.functional.mse_loss(pit(x), y) + 1e-3 * soft_cost()
            loss.backward()
            opt.step()
            archs[i].append(pit.arch())
    assert archs[0] == archs[1]
    assert archs[0][-1] != archs[0][0], "the masks never crossed the threshold"
    for mine, theirs in zip(batched.nas_parameters(), reference.nas_parameters(), strict=True):
        torch.testing.assert_close(mine, theirs, rtol=1e-4, atol=1e-5)


def test_one_parameter_per_mask_kind_and_older_checkpoints_load():
    x = torch.randn(2, 3, 20)
    pit = PIT(CausalStack(9, batchnorm=True), x)
    randomize_nas(pit, torch.Generator().manual_seed(0))
    state = pit.state_dict()
    flat = {f"model.{MASKS}.{kind}" for kind in ("gamma", "beta", "alpha")}
    assert flat <= set(state)
    assert not any(key.endswith(("_mask.gamma", "_mask.beta", "_mask.alpha")) for key in state)
    assert len(list(pit.nas_parameters())) == 3

    # A state_dict from before packing: one entry per mask under each layer holding it.
    old = {key: value for key, value in state.items() if key not in flat}
    for name, layer in pit.layers():
        for attr, kind in (("dilation_mask", "gamma"), ("rf_mask", "beta"),
                           ("out_mask", "alpha")):
            mask = getattr(layer, attr)
            if mask is not None:
                old[f"model.{name}.{attr}.{kind}"] = getattr(mask, kind).detach().clone()
    other = PIT(CausalStack(9, batchnorm=True), x)
    other.load_state_dict(old)
    assert other.arch() == pit.arch()
    for mine, theirs in zip(other.nas_parameters(), pit.nas_parameters(), strict=True):
        assert torch.equal(mine, theirs)
    pit.eval(), other.eval()
    torch.testing.assert_close(other(x), pit(x))
    assert not hasattr(pit.export(), MASKS)


def test_forward_and_cost_capture_in_one_graph():
    """No graph breaks or host syncs: torch.compile(fullgraph=True) takes forward + cost."""
    x = torch.randn(4, 4, 256)
    pit = PIT(TEMPONet(), x, cost={"params": "params", "macs": "macs"}).train()
    randomize_nas(pit, torch.Generator().manual_seed(1))
    for module in pit.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0  # the two calls compare alike

    def objective(inputs: torch.Tensor) -> torch.Tensor:
        return pit(inputs).square().mean() + 1e-6 * pit.cost

    torch._dynamo.reset()
    compiled = torch.compile(objective, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), objective(x))
