"""PIT: wrap a seed network so that its Conv1d geometry becomes trainable."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable, Iterator, Sequence

import torch
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from ..cost import (
    CostModel,
    LayerArch,
    LayerSpace,
    ResidualAdd,
    SoftLayer,
    SoftNetwork,
    resolve_costs,
)
from ..cost.geometry import SEARCH_OPTIONS
from . import convert
from .bank import MaskBank
from .errors import PITError
from .layer import PITConv1d

InputSources = list[tuple[str | None, int]]
COST_VIEWS = ("binarized", "binarized-dilation", "soft")


class PIT(nn.Module):
    """A seed network whose eligible ``nn.Conv1d`` layers search their geometry.

    Args:
        model: the seed; every searchable conv has dilation 1 and a kernel as long as
            the largest receptive field wanted. It is copied, not modified.
        example_input: a batch the seed accepts, used to trace shapes.
        cost: a built-in cost name (``"params"``, ``"macs"``), a :class:`CostModel`,
            or a dict of them by name; :attr:`cost` is their sum.
        search: any of ``"dilation"``, ``"rf"`` (receptive field), ``"channels"``.
        exclude: layer names (a name excludes its submodules) or module types that
            stay as they are.
        cost_view: ``"binarized"`` charges the current binarized architecture with
            straight-through gradients; ``"soft"`` charges the expected cost under the
            clamped mask parameters (see :class:`~pit_lightning.cost.SoftLayer`);
            ``"binarized-dilation"`` binarizes the dilation masks only, so a chain of
            dilation gates keeps the full price of each level until a coarser one
            closes, while receptive field and channels stay soft.
        drop_blocks: also search depth: a residual branch (a searchable conv whose
            channels feed one searchable conv that ends in a residual add, such as a
            TCN's temporal block) is removed when its first conv keeps no channel
            (see :func:`~pit_lightning.nas.convert.branches`). None (default): wherever
            the seed has such branches and channels are searched; True: required (an
            error if the seed has none); False: every block stays.
    """

    def __init__(
        self,
        model: nn.Module,
        example_input: Tensor | tuple[Tensor, ...],
        cost: str | CostModel | dict[str, str | CostModel] | None = "params",
        search: Sequence[str] = SEARCH_OPTIONS,
        exclude: Sequence[str | type] = (),
        cost_view: str = "soft",
        drop_blocks: bool | None = None,
    ) -> None:
        super().__init__()
        if cost_view not in COST_VIEWS:
            raise PITError(f"cost_view must be one of {COST_VIEWS}, got {cost_view!r}")
        self.cost_view = cost_view
        search = (search,) if isinstance(search, str) else tuple(search)
        unknown = set(search) - set(SEARCH_OPTIONS)
        if unknown:
            raise PITError(
                f"unknown search option(s) {sorted(unknown)}; "
                f"choose from {list(SEARCH_OPTIONS)}"
            )
        if drop_blocks is None:
            drop_blocks = "channels" in search
            required = False
        else:
            required = drop_blocks
        if required and "channels" not in search:
            raise PITError("drop_blocks removes a residual branch by its channel mask: "
                           "it needs 'channels' in search")
        self.search = search
        self.cost_models = resolve_costs(cost)
        inputs = example_input if isinstance(example_input, tuple) else (example_input,)

        gm = convert.trace(copy.deepcopy(model))
        sites = convert.find_sites(gm, exclude)
        if not sites:
            raise PITError(
                f"{type(model).__name__} has no searchable nn.Conv1d (stride 1, groups 1, "
                "dilation 1, zero padding, not excluded)"
            )
        convert.replace_sites(gm, sites, search)
        _propagate_shapes(gm, inputs)
        groups = convert.assign_groups(gm, sites, "channels" in search)
        self._sources: dict[str, InputSources] = convert.attach_masks(gm, sites, groups)
        self._branches = convert.branches(gm, sites, groups) if drop_blocks else []
        if required and not self._branches:
            raise PITError(
                f"drop_blocks: {type(model).__name__} has no residual branch PIT can remove "
                "(a searchable conv whose channels feed one searchable conv that ends in a "
                "residual add)"
            )
        for branch in self._branches:
            head = gm.get_submodule(branch.head).out_mask
            head.may_empty = True
            object.__setattr__(gm.get_submodule(branch.tail), "head_mask", head)
        self._adds = convert.residual_adds(sites, groups)
        self._lengths = {site.name: int(site.node.meta["tensor_meta"].shape[-1]) for site in sites}
        self.model = gm
        self._spaces: list[LayerSpace] | None = None
        self._seed_costs: dict[str, float] | None = None
        self._build_bank()
        self._index_adds()

    def _build_bank(self) -> None:
        """One :class:`MaskBank` evaluates every mask per forward (and per cost)."""
        layers = dict(self.layers())
        masks, groups = [], {}
        for layer in layers.values():
            if layer.out_mask is not None and id(layer.out_mask) not in groups:
                groups[id(layer.out_mask)] = len(masks)
                masks.append(layer.out_mask)
        owners = {name: groups[id(layer.out_mask)] for name, layer in self.layers()
                  if layer.out_mask is not None}
        heads = {branch.tail: owners[branch.head] for branch in self._branches}
        bank = MaskBank(
            layers, masks,
            out_groups=[groups[id(layer.out_mask)] if layer.out_mask is not None else None
                        for layer in layers.values()],
            in_sources=[[(owners[owner] if owner else None, size) for owner, size in runs]
                        for runs in self._sources.values()],
            alive_groups=[heads.get(name) for name in layers],
        )
        convert.feed_masks(self.model, list(self._sources), bank)
        self._register_load_state_dict_pre_hook(self._pack_state_dict)
        spaces = self.search_space()
        self.register_buffer("_length", torch.tensor([float(s.length) for s in spaces]),
                             persistent=False)
        self.register_buffer("_bias", torch.tensor([float(s.bias) for s in spaces]),
                             persistent=False)

    def forward(self, *args: Tensor) -> Tensor:
        return self.model(*args)

    # -- layers and parameters -------------------------------------------------------

    def layers(self) -> Iterator[tuple[str, PITConv1d]]:
        """The searchable layers in graph order, by qualified name."""
        for name in self._sources:
            yield name, self.model.get_submodule(name)

    def nas_parameters(self) -> Iterator[nn.Parameter]:
        """The mask parameters: one flat ``gamma``, ``beta`` and ``alpha`` for the whole
        network (those searched)."""
        return self.mask_parameters(*SEARCH_OPTIONS)

    def mask_parameters(self, *kinds: str) -> Iterator[nn.Parameter]:
        """The flat mask parameter of each given kind (``"dilation"``, ``"rf"``,
        ``"channels"``) that some layer searches."""
        _check_kinds(kinds)
        for kind in kinds:
            param = self._bank.get_parameter_of(kind)
            if param is not None:
                yield param

    def hold_masks(self, kinds: Iterable[str]) -> None:
        """Tell the layers which mask kinds the training holds still (drops their
        gradients). Once every searched time mask is held, a layer's weight gradient
        skips the taps it dropped, as its forward pass always does; until then the
        dropped taps' gradient is computed, for their masks to learn from."""
        held = set(kinds)
        _check_kinds(held)
        searched = {"dilation", "rf"} & set(self.search)
        for _, layer in self.layers():
            layer.time_searched = not searched <= held

    def net_parameters(self) -> Iterator[nn.Parameter]:
        """Every parameter that is not a NAS parameter: the network's weights."""
        nas = {id(p) for p in self.nas_parameters()}
        return (p for p in self.parameters() if id(p) not in nas)

    # -- geometry --------------------------------------------------------------------

    def _in_keep(self, name: str) -> Tensor:
        """Which input channels the binarized architecture keeps."""
        weight = self.model.get_submodule(name).conv.weight
        parts = []
        for owner, size in self._sources[name]:
            mask = self.model.get_submodule(owner).out_mask if owner else None
            parts.append(mask.keep() if mask is not None
                         else torch.ones(size, dtype=torch.bool, device=weight.device))
        return parts[0] if len(parts) == 1 else torch.cat(parts)

    def search_space(self) -> list[LayerSpace]:
        """Each searchable layer's static search space."""
        if self._spaces is None:
            self._spaces = self._build_search_space()
        return list(self._spaces)

    def _build_search_space(self) -> list[LayerSpace]:
        heads = {branch.head for branch in self._branches}
        tails = {branch.tail for branch in self._branches}
        spaces = []
        for name, layer in self.layers():
            dilations = layer.dilation_mask.dilations if layer.dilation_mask is not None else (1,)
            spaces.append(LayerSpace(
                name=name,
                in_channels=layer.in_channels,
                out_channels=layer.out_channels,
                kernel_size=layer.kernel_size,
                dilations=dilations,
                length=self._lengths[name],
                bias=layer.conv.bias is not None,
                searches_in_channels=any(owner for owner, _ in self._sources[name]),
                searches_out_channels=layer.out_mask is not None,
                empty_in=name in tails,
                empty_out=name in heads,
            ))
        return spaces

    def _index_adds(self) -> None:
        """Each add's width as ``owners @ out_channels + fixed``: one product per cost
        evaluation (every training step) instead of a walk over the sources."""
        rows = {name: row for row, name in enumerate(self._sources)}
        owners = torch.zeros(len(self._adds), len(rows))
        fixed = torch.zeros(len(self._adds))
        for i, (_, sources, _) in enumerate(self._adds):
            for owner, size in sources:
                if owner:
                    owners[i, rows[owner]] += 1.0
                else:
                    fixed[i] += size
        self.register_buffer("_add_owners", owners, persistent=False)
        self.register_buffer("_add_fixed", fixed, persistent=False)
        # The row of the head whose channels keep each add's branch alive (or the
        # trailing constant 1 past the layers).
        head_of = {branch.add: rows[branch.head] for branch in self._branches}
        self.register_buffer("_add_head", torch.tensor(
            [head_of.get(name, len(rows)) for name, _, _ in self._adds], dtype=torch.long),
            persistent=False)
        self._add_spaces = [ResidualAdd(name, sum(size for _, size in sources), length)
                            for name, sources, length in self._adds]

    def residual_adds(self) -> list[ResidualAdd]:
        """The adds whose width the channel masks set, at the seed's width."""
        return list(self._add_spaces)

    def add_arch(self) -> list[ResidualAdd]:
        """The residual adds of the binarized architecture, at their kept width (those of
        removed branches left out)."""
        kept = {name: int(layer.out_keep().sum()) for name, layer in self.layers()
                if layer.out_mask is not None}
        removed = {branch.add for branch in self.removed_branches()}
        return [ResidualAdd(name, sum(kept[owner] if owner else size for owner, size in sources),
                            length)
                for name, sources, length in self._adds if name not in removed]

    def branches(self) -> list[convert.Branch]:
        """The residual branches the search may remove (``drop_blocks``)."""
        return list(self._branches)

    def removed_branches(self) -> list[convert.Branch]:
        """The residual branches the binarized architecture removes."""
        return [branch for branch in self._branches
                if not self.model.get_submodule(branch.head).out_keep().any()]

    def _add_channels(self, out_channels: Tensor) -> Tensor:
        """Each residual add's channel count under the masks, from the per-layer
        ``out_channels`` of a :class:`SoftNetwork` (differentiable)."""
        owners = self._add_owners.to(out_channels.dtype)
        return owners @ out_channels + self._add_fixed.to(out_channels.dtype)

    def _add_presence(self, out_channels: Tensor) -> Tensor:
        """How present each add is: 1, or for a removable branch its head's (expected)
        channel count up to 1, so that emptying the head takes the add's cost away."""
        heads = torch.cat([out_channels, out_channels.new_ones(1)])
        return heads.index_select(0, self._add_head).clamp(max=1.0)

    def _pack_state_dict(self, state_dict: dict[str, Tensor], prefix: str, *_: object) -> None:
        # Checkpoints from before the masks were packed keep loading.
        self._bank.pack_state_dict(state_dict, prefix + "model.")

    @property
    def _bank(self) -> MaskBank:
        return self.model.get_submodule(convert.MASKS)

    def soft_network(self) -> SoftNetwork:
        """Every searchable layer's differentiable state, from one batched evaluation
        of the masks (binarized or clamped, as ``cost_view`` says)."""
        binarized = self.cost_view == "binarized"
        dilation = binarized or self.cost_view == "binarized-dilation"
        values = self._bank.values(binarized, dilation)

        def layers() -> list[SoftLayer]:
            in_keep, out_keep = self._bank.layer_keeps(values.channels)
            return [
                SoftLayer(space, layer, in_keep[row], out_keep[row],
                          values.time[row, : space.kernel_size], binarized, dilation)
                for row, (space, (_, layer)) in enumerate(
                    zip(self.search_space(), self.layers(), strict=True))
            ]

        return SoftNetwork(layers, values.in_channels, values.out_channels, values.taps,
                           self._length, self._bias)

    def soft_layers(self) -> list[SoftLayer]:
        """Each searchable layer's differentiable state."""
        return self.soft_network().layers

    def arch(self) -> list[LayerArch]:
        """The binarized architecture: one record per searchable layer."""
        records = []
        for name, layer in self.layers():
            taps, dilation = layer.kept_taps()
            records.append(LayerArch(
                name=name,
                in_channels=int(self._in_keep(name).sum()),
                out_channels=int(layer.out_keep().sum()),
                kernel_size=taps,
                dilation=dilation,
                receptive_field=(taps - 1) * dilation + 1,
                length=self._lengths[name],
                bias=layer.conv.bias is not None,
            ))
        return records

    # -- costs -----------------------------------------------------------------------

    def set_costs(self, cost: str | CostModel | dict[str, str | CostModel] | None) -> None:
        """Replace the named costs (e.g. with a table measured once the search starts)."""
        self.cost_models = resolve_costs(cost)
        self._seed_costs = None

    def seed_arch(self) -> list[LayerArch]:
        """The seed's own geometry: every channel and tap, dilation 1."""
        return [
            LayerArch(
                name=space.name, in_channels=space.in_channels,
                out_channels=space.out_channels, kernel_size=space.kernel_size, dilation=1,
                receptive_field=space.kernel_size, length=space.length, bias=space.bias,
            )
            for space in self.search_space()
        ]

    def seed_costs(self) -> dict[str, float]:
        """Each named cost of the seed, whatever the masks say: the unit that
        normalised regularizer strengths are expressed in."""
        if self._seed_costs is None:
            self._seed_costs = self._totals(self.seed_arch(), self.residual_adds())
        return dict(self._seed_costs)

    def costs(self) -> dict[str, Tensor]:
        """Each named cost under the soft masks (differentiable)."""
        network = self.soft_network()
        channels = self._add_channels(network.out_channels)
        presence = self._add_presence(network.out_channels) if self._branches else None
        return {name: model.soft_network(network)
                + model.soft_adds(channels, self._add_spaces, presence)
                for name, model in self.cost_models.items()}

    @property
    def cost(self) -> Tensor:
        """The sum of the named soft costs: the regularizer's term."""
        costs = self.costs()
        if not costs:
            raise PITError("PIT was built with cost=None: there is no cost to read")
        return torch.stack(list(costs.values())).sum()

    def exact_costs(self) -> dict[str, float]:
        """Each named cost of the binarized architecture, as exported."""
        return self._totals(self.arch(), self.add_arch())

    def _totals(self, arch: list[LayerArch], adds: list[ResidualAdd]) -> dict[str, float]:
        return {name: model.total(arch) + model.total_adds(adds)
                for name, model in self.cost_models.items()}

    def close_nearest(self, over: Callable[[], float]) -> int:
        """Shut open gates until ``over()`` (how far the binarized network is over a
        budget, 0 within it) is 0: each time the gate nearest its threshold among those
        whose closing lowers ``over()``, i.e. the one the search was closest to closing
        itself. Returns how many it shut; stops early when none lowers ``over()``."""
        closed, excess = 0, over()
        while excess > 0:
            gates = sorted((float(margin), n, index, mask)
                           for n, mask in enumerate(self._bank.masks())
                           for index, margin in enumerate(mask.margins().tolist())
                           if margin > 0)
            for *_, index, mask in gates:
                param = getattr(mask, mask.PARAM)
                kept = param.detach().clone()
                mask.close(index)
                if (now := over()) < excess:
                    closed, excess = closed + 1, now
                    break
                with torch.no_grad():
                    param.copy_(kept)
            else:
                break
        return closed

    # -- export ----------------------------------------------------------------------

    def export(self) -> fx.GraphModule:
        """A plain network equal to this one in eval mode.

        It leaves the global random generator where it was (the new layers' default
        initialisation would draw from it): a run exports its candidate every search
        epoch to predict its latency, and how often it does must not change the
        training's dropout and shuffling.

        Its graph calls leaf ``torch.nn`` modules only: each searchable layer becomes a
        chain of nodes ``<name>.pad`` (when needed), ``<name>.conv``, ``<name>.bn`` (when
        the seed had one), or a single ``nn.Conv1d`` at ``<name>``.
        """
        with torch.random.fork_rng(devices=[]):
            return self._export()

    def _export(self) -> fx.GraphModule:
        exported = copy.deepcopy(self.model)
        graph = exported.graph
        removed = self.removed_branches()
        if removed:
            adds = {n.name: n for n in graph.nodes}
            for branch in removed:
                # The branch adds zero: the add becomes its other operand.
                add = adds[branch.add]
                add.replace_all_uses_with(add.args[1 - branch.operand])
                graph.erase_node(add)
            graph.eliminate_dead_code()
        nodes = {n.target: n for n in graph.nodes if n.op == "call_module"}
        for name, layer in list(self.layers()):
            if name not in nodes:
                continue  # in a removed branch
            parts = layer.export(self._in_keep(name))
            if list(parts) == ["conv"]:
                convert.set_submodule(exported, name, parts["conv"])
                nodes[name].args = nodes[name].args[:1]
                continue
            container = nn.Module()
            for suffix, module in parts.items():
                container.add_module(suffix, module)
            convert.set_submodule(exported, name, container)
            node = nodes[name]
            value = node.args[0]
            with graph.inserting_before(node):
                for suffix in parts:
                    value = graph.call_module(f"{name}.{suffix}", (value,))
            node.replace_all_uses_with(value)
            graph.erase_node(node)
        convert.drop_masks(exported)
        if removed:
            exported.delete_all_unused_submodules()
        for node in graph.nodes:
            # Shape propagation leaves type annotations that torch.save cannot pickle.
            node.type = None
        exported.recompile()
        exported.train(self.training)
        return exported


def _check_kinds(kinds: Iterable[str]) -> None:
    unknown = set(kinds) - set(SEARCH_OPTIONS)
    if unknown:
        raise PITError(f"unknown mask kind(s) {sorted(unknown)}; kinds are "
                       f"{list(SEARCH_OPTIONS)}")


def _propagate_shapes(gm: fx.GraphModule, inputs: tuple[Tensor, ...]) -> None:
    """Record every node's output shape without touching BatchNorm statistics."""
    was_training = gm.training
    gm.eval()
    try:
        with torch.no_grad():
            ShapeProp(gm).propagate(*inputs)
    except Exception as exc:
        raise PITError(
            f"the seed failed on example_input of shape(s) {[tuple(x.shape) for x in inputs]} "
            f"after conversion: {type(exc).__name__}: {exc}"
        ) from exc
    finally:
        gm.train(was_training)
