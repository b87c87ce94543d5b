"""Gradients, architecture records and costs of the PIT core."""

from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

from pit_lightning.cost import CostModel, LayerArch, SoftLayer
from pit_lightning.nas import PIT, PITConv1d
from pit_lightning.nas.masks import ChannelMask, DilationMask, ReceptiveFieldMask
from pit_lightning.seeds import TEMPONet, restcn_jsb

from .helpers import CausalStack, randomize_nas

pytestmark = pytest.mark.filterwarnings("ignore::pit_lightning.nas.UnsearchedLayerWarning")


def test_gradients_reach_every_nas_parameter():
    x = torch.randn(4, 3, 32)
    pit = PIT(CausalStack(17, batchnorm=True), x, cost="params")
    randomize_nas(pit, torch.Generator().manual_seed(0))
    loss = pit(x).square().mean() + 1e-6 * pit.cost
    loss.backward()
    params = dict(pit.named_parameters())
    nas = [n for n, p in params.items() if any(p is q for q in pit.nas_parameters())]
    assert {n.rsplit(".", 1)[1] for n in nas} == {"alpha", "beta", "gamma"}
    for name in nas:
        grad = params[name].grad
        assert grad is not None and grad.abs().sum() > 0, name


def test_task_loss_alone_reaches_masks_through_straight_through_estimator():
    x = torch.randn(4, 3, 32)
    pit = PIT(CausalStack(9, batchnorm=False), x, cost=None)
    pit(x).square().mean().backward()
    for param in pit.nas_parameters():
        assert param.grad is not None and param.grad.abs().sum() > 0


def test_parameter_split_is_a_partition():
    pit = PIT(CausalStack(5, batchnorm=True), torch.randn(1, 3, 10))
    nas = {id(p) for p in pit.nas_parameters()}
    net = {id(p) for p in pit.net_parameters()}
    assert nas and net and not nas & net
    assert nas | net == {id(p) for p in pit.parameters()}


def count_exported(model: nn.Module, x: torch.Tensor) -> tuple[int, int]:
    """Conv parameters and MACs counted on the module itself, with a forward hook."""
    params, macs = 0, 0

    def hook(module, _inputs, output):
        nonlocal macs
        macs += module.weight.numel() * output.shape[-1]

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, nn.Conv1d)]
    model(x)
    for handle in handles:
        handle.remove()
    for module in model.modules():
        if isinstance(module, nn.Conv1d):
            bias = module.bias.numel() if module.bias is not None else 0
            params += module.weight.numel() + bias
    return params, macs


@pytest.mark.parametrize("seed_kind", ["stack", "restcn"])
def test_exact_costs_match_the_exported_network(seed_kind):
    gen = torch.Generator().manual_seed(3)
    if seed_kind == "stack":
        seed, x = CausalStack(13, batchnorm=True), torch.randn(1, 3, 40)
    else:
        seed, x = restcn_jsb(channels=20, dropout=0.0), torch.randn(1, 88, 16)
    pit = PIT(seed, x, cost={"params": "params", "macs": "macs"})
    for _ in range(3):
        randomize_nas(pit, gen)
        pit.eval()
        params, macs = count_exported(pit.export().eval(), x)
        exact = pit.exact_costs()
        assert exact == {"params": params, "macs": macs}
        arch = pit.arch()
        assert sum(layer.params for layer in arch) == params
        assert sum(layer.macs for layer in arch) == macs


def test_arch_records_follow_the_masks():
    x = torch.randn(1, 3, 20)
    pit = PIT(CausalStack(17, batchnorm=False), x)
    layer = pit.model.get_submodule("first.1")
    assert isinstance(layer, PITConv1d)
    with torch.no_grad():
        layer.dilation_mask.gamma.copy_(torch.tensor([1.0, 0.1, 1.0, 1.0]))  # dilation 4
        layer.rf_mask.beta.fill_(0.05)  # theta_j = 0.05 * (17 - j) > 0.5 for j < 7
    record = {r.name: r for r in pit.arch()}["first.1"]
    assert (record.kernel_size, record.dilation, record.receptive_field) == (2, 4, 5)
    assert layer.time_mask().tolist() == [1.0 if j in (0, 4) else 0.0 for j in range(17)]


def test_soft_cost_decreases_when_taps_or_channels_are_masked():
    x = torch.randn(1, 3, 20)
    pit = PIT(CausalStack(9, batchnorm=True), x, cost={"params": "params", "macs": "macs"})
    full = pit.costs()
    layer = pit.model.get_submodule("first.1")
    with torch.no_grad():
        layer.rf_mask.beta[-1] = 0.3
    fewer_taps = pit.costs()
    with torch.no_grad():
        layer.out_mask.alpha[:3] = 0.2
    fewer_channels = pit.costs()
    for name in full:
        assert fewer_taps[name] < full[name]
        assert fewer_channels[name] < fewer_taps[name]


def test_soft_cost_equals_exact_cost_on_binary_masks():
    pit = PIT(TEMPONet(), torch.randn(1, 4, 256), cost={"params": "params", "macs": "macs"})
    with torch.no_grad():
        for name, param in pit.named_parameters():
            if name.endswith((".alpha", ".gamma")):
                param.copy_((torch.rand(param.shape) > 0.5).float())
    soft = {k: float(v.detach()) for k, v in pit.costs().items()}
    assert soft == pytest.approx(pit.exact_costs(), rel=1e-6)


def test_custom_cost_model_receives_soft_and_exact_geometry():
    seen: list[object] = []

    class Taps(CostModel):
        def soft(self, layer: SoftLayer) -> torch.Tensor:
            seen.append(layer)
            return layer.taps

        def exact(self, layer: LayerArch) -> float:
            return float(layer.kernel_size)

    x = torch.randn(1, 3, 20)
    pit = PIT(CausalStack(7, batchnorm=False), x, cost={"taps": Taps(), "params": "params"})
    costs = pit.costs()
    assert set(costs) == {"taps", "params"}
    assert float(costs["taps"]) == 7 + 7 + 1
    assert float(pit.cost) == pytest.approx(float(costs["taps"] + costs["params"]))
    assert pit.exact_costs()["taps"] == 15
    assert all(isinstance(s, SoftLayer) for s in seen)


def test_search_space_records():
    pit = PIT(TEMPONet(), torch.randn(1, 4, 256))
    spaces = pit.search_space()
    assert [s.kernel_size for s in spaces] == [5, 5, 5, 9, 9, 17, 17]
    assert [s.length for s in spaces] == [256, 256, 256, 128, 128, 32, 32]
    assert spaces[-1].dilations == (1, 2, 4, 8, 16)
    assert spaces[-1].max_taps(16) == 2 and spaces[-1].max_taps(1) == 17
    assert not spaces[0].searches_in_channels and spaces[1].searches_in_channels
    # Convs before Flatten keep all their channels.
    assert not spaces[-1].searches_out_channels


def test_search_options_switch_masks_off():
    x = torch.randn(1, 3, 20)
    pit = PIT(CausalStack(9, batchnorm=False), x, search=("dilation",))
    layer = pit.model.get_submodule("first.1")
    assert layer.rf_mask is None and layer.out_mask is None
    assert layer.dilation_mask is not None
    pit = PIT(CausalStack(9, batchnorm=False), x, search=("channels",))
    layer = pit.model.get_submodule("first.1")
    assert layer.rf_mask is None and layer.dilation_mask is None and layer.out_mask is not None


def test_residual_adds_share_channel_masks():
    pit = PIT(CausalStack(5, batchnorm=True), torch.randn(1, 3, 20))
    first, second = (pit.model.get_submodule(n) for n in ("first.1", "second.1"))
    assert first.out_mask is second.out_mask


def test_seed_is_not_modified():
    seed = CausalStack(5, batchnorm=True)
    before = {k: v.clone() for k, v in seed.state_dict().items()}
    PIT(seed, torch.randn(4, 3, 20))(torch.randn(4, 3, 20))
    after = seed.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert all(type(m) is not PITConv1d for m in seed.modules())


class TestMasks:
    def test_dilation_probabilities_sum_to_one_and_match_binarized_dilation(self):
        mask = DilationMask(33)
        assert mask.dilations == (1, 2, 4, 8, 16, 32)
        with torch.no_grad():
            mask.gamma.copy_(torch.tensor([0.9, 0.2, 0.8, 0.7, 1.0]))
        probs = mask.probabilities()
        assert float(probs.sum()) == pytest.approx(1.0)
        assert mask.dilation() == 4
        kept = mask().nonzero().flatten().tolist()
        assert kept == list(range(0, 33, 4))

    def test_rf_window_is_contiguous_and_never_empty(self):
        mask = ReceptiveFieldMask(10)
        with torch.no_grad():
            mask.beta.zero_()
        assert mask().tolist() == [1.0] + [0.0] * 9
        assert mask.receptive_field() == 1
        assert float(mask.probabilities().sum()) == pytest.approx(1.0)

    def test_channel_mask_keeps_one_channel_alive(self):
        mask = ChannelMask(5)
        with torch.no_grad():
            mask.alpha.copy_(torch.tensor([0.1, -0.3, 0.05, 0.2, 0.0]))
        assert mask().tolist() == [0.0, 1.0, 0.0, 0.0, 0.0]


def test_binarized_cost_view_charges_the_exported_architecture():
    from pit_lightning.seeds import ResTCN

    pit = PIT(ResTCN(levels=2, channels=8, kernel_size=3), torch.zeros(1, 88, 16),
              cost={"params": "params", "macs": "macs"}, cost_view="binarized")
    soft_pit = copy.deepcopy(pit)
    soft_pit.cost_view = "soft"
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for mine, theirs in zip(pit.nas_parameters(), soft_pit.nas_parameters(), strict=True):
            mine.copy_(torch.rand(mine.shape, generator=generator))
            theirs.copy_(mine)
    exact = pit.exact_costs()
    costs = pit.costs()
    for name in exact:
        assert float(costs[name]) == pytest.approx(exact[name])
    # The expected cost under the clamped parameters is another number.
    assert float(soft_pit.costs()["params"]) != pytest.approx(exact["params"])
    # Straight-through: every mask kind gets a gradient.
    grads = torch.autograd.grad(costs["params"], list(pit.nas_parameters()))
    assert all(bool(g.abs().sum() > 0) for g in grads)


def test_binarized_dilation_view_keeps_the_price_of_each_dilation_level():
    """Gates of one chain that fall together: in the expected cost each one's gradient
    shrinks with the product of the others; binarized, it stays the taps it removes."""
    from pit_lightning.seeds import ResTCN

    seed = ResTCN(levels=1, channels=4, kernel_size=17)  # 16 taps back: 4 dilation gates
    views = {view: PIT(seed, torch.zeros(1, 88, 32), cost="params", cost_view=view,
                       search=("dilation", "channels"))
             for view in ("soft", "binarized-dilation")}
    grads = {}
    for view, pit in views.items():
        with torch.no_grad():
            next(pit.mask_parameters("dilation")).fill_(0.6)  # above the threshold: k = 17
            next(pit.mask_parameters("channels")).fill_(0.7)
        cost = pit.costs()["params"]
        gamma, alpha = torch.autograd.grad(cost, [next(pit.mask_parameters(kind))
                                                   for kind in ("dilation", "channels")])
        grads[view] = gamma, alpha, float(cost.detach())
    soft, hybrid = grads["soft"], grads["binarized-dilation"]
    # The finest gate of the first layer sits under the three coarser ones: the soft
    # view charges it 0.6 ** 3 of what the binarized chain does.
    assert float(soft[0][0]) == pytest.approx(0.6 ** 3 * float(hybrid[0][0]), rel=1e-4)
    # Channels stay soft: the cost is the soft view's with every dilation gate open.
    with torch.no_grad():
        next(views["soft"].mask_parameters("dilation")).fill_(1.0)
    assert hybrid[2] == pytest.approx(float(views["soft"].costs()["params"].detach()), rel=1e-6)
    assert bool(hybrid[1].abs().sum() > 0)


def test_unknown_cost_view_is_refused():
    from pit_lightning.nas import PITError
    from pit_lightning.seeds import ResTCN

    with pytest.raises(PITError, match="cost_view must be one of"):
        PIT(ResTCN(levels=1, channels=4), torch.zeros(1, 88, 8), cost_view="exact")
