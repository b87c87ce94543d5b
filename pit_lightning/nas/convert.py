"""Turning a traced seed network into one whose Conv1d layers are PIT layers.

Conversion works on the torch.fx graph in three passes:

1. fold into each eligible ``nn.Conv1d`` the zero padding before it, a Bai-style
   "chomp" slice after it and a BatchNorm1d right after it;
2. follow channels through the graph to find which convs must keep the same output
   channels (residual adds) and which must keep all of them (network input or output,
   or consumers that mix channels, such as Flatten or Linear);
3. replace each conv with a :class:`PITConv1d` sharing one :class:`ChannelMask` per
   group.
"""

from __future__ import annotations

import operator
import warnings
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import fx, nn

from .errors import PITError, UnsearchedLayerWarning
from .layer import PITConv1d
from .masks import ChannelMask

# Ops that act on each channel alone and map zero to zero: a masked channel stays
# zero through them, so channel masks may travel across.
_ZERO_PRESERVING_MODULES = (
    nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.ELU, nn.GELU, nn.SiLU, nn.Tanh, nn.Hardtanh,
    nn.Hardswish, nn.Dropout, nn.Identity, nn.AvgPool1d, nn.MaxPool1d,
)
_ZERO_PRESERVING_FUNCTIONS = (
    F.relu, torch.relu, F.relu6, F.leaky_relu, F.gelu, F.silu, torch.tanh, F.dropout,
    F.avg_pool1d, F.max_pool1d,
)
_ZERO_PRESERVING_METHODS = ("contiguous", "relu", "clone", "tanh")
_SUMS = (operator.add, operator.iadd, torch.add)
_ADDS = (*_SUMS, operator.sub, torch.sub)


@dataclass
class Segment:
    """A run of channels of a tensor governed by one channel group (None: fixed)."""

    group: int | None
    size: int


@dataclass
class ConvSite:
    """A seed conv being converted, with what the graph passes fold into it."""

    name: str
    node: fx.Node
    conv: nn.Conv1d
    padding: tuple[int, int]
    bn: nn.BatchNorm1d | None = None
    inputs: list[Segment] = field(default_factory=list)
    group: int | None = None


def trace(model: nn.Module) -> fx.GraphModule:
    try:
        return fx.symbolic_trace(model)
    except Exception as exc:
        raise PITError(
            f"could not trace {type(model).__name__} with torch.fx ({type(exc).__name__}: "
            f"{exc}). PIT needs a traceable seed: no control flow on tensor values; "
            "wrap untraceable parts in a leaf module or exclude them."
        ) from exc


def _where(node: fx.Node) -> str:
    stack = node.meta.get("nn_module_stack") or {}
    path = next(reversed(stack.values()))[0] if stack else "<top level>"
    return f"`{path}` (graph node `{node.name}`)"


def _conv_padding(conv: nn.Conv1d) -> tuple[int, int]:
    pad = conv.padding
    if pad == "valid":
        return 0, 0
    if pad == "same":
        total = conv.dilation[0] * (conv.kernel_size[0] - 1)
        return total // 2, total - total // 2
    return pad[0], pad[0]


def _ineligible_reason(conv: nn.Conv1d) -> str | None:
    if conv.stride[0] != 1:
        return f"stride {conv.stride[0]}"
    if conv.groups != 1:
        return f"groups={conv.groups}"
    if conv.dilation[0] != 1:
        return f"dilation {conv.dilation[0]} (seeds are undilated: kernel = receptive field)"
    if conv.padding_mode != "zeros":
        return f"padding_mode={conv.padding_mode!r}"
    return None


def _is_excluded(name: str, module: nn.Module, exclude: Sequence[str | type]) -> bool:
    for item in exclude:
        if isinstance(item, str) and (name == item or name.startswith(item + ".")):
            return True
        if isinstance(item, type) and isinstance(module, item):
            return True
    return False


def _zero_pad_amount(gm: fx.GraphModule, node: fx.Node) -> tuple[int, int] | None:
    """(left, right) if ``node`` is a constant-zero 1-D padding of a 3-D tensor."""
    if node.op == "call_module":
        mod = gm.get_submodule(node.target)
        if isinstance(mod, nn.ConstantPad1d) and mod.value == 0:
            return tuple(mod.padding)
    if node.op == "call_function" and node.target is F.pad:
        pad = node.args[1] if len(node.args) > 1 else node.kwargs.get("pad")
        mode = node.args[2] if len(node.args) > 2 else node.kwargs.get("mode", "constant")
        value = node.args[3] if len(node.args) > 3 else node.kwargs.get("value", None)
        if mode == "constant" and not value and isinstance(pad, (tuple, list)) and len(pad) == 2:
            return int(pad[0]), int(pad[1])
    return None


def _chomp_amount(node: fx.Node) -> int | None:
    """c if ``node`` is ``x[:, :, :-c]`` (or ``x[..., :-c]``), the Bai et al. chomp."""
    if node.op != "call_function" or node.target is not operator.getitem:
        return None
    index = node.args[1]
    if not isinstance(index, tuple) or not index:
        return None
    full = slice(None, None, None)
    head = index[:-1]
    if not (head == (full, full) or head == (Ellipsis,)):
        return None
    last = index[-1]
    if (
        isinstance(last, slice) and last.start in (None, 0) and last.step in (None, 1)
        and isinstance(last.stop, int) and last.stop < 0
    ):
        return -last.stop
    return None


def _only_user(node: fx.Node) -> fx.Node | None:
    users = list(node.users)
    return users[0] if len(users) == 1 else None


def _bypass(node: fx.Node, replacement: fx.Node) -> None:
    node.replace_all_uses_with(replacement)
    node.graph.erase_node(node)


def _module_uses(gm: fx.GraphModule) -> dict[str, int]:
    uses: dict[str, int] = {}
    for node in gm.graph.nodes:
        if node.op == "call_module":
            uses[node.target] = uses.get(node.target, 0) + 1
    return uses


def find_sites(
    gm: fx.GraphModule, exclude: Sequence[str | type]
) -> list[ConvSite]:
    """Pass 1: pick eligible convs and fold padding, chomp and BatchNorm into them."""
    uses = _module_uses(gm)
    sites = []
    for node in list(gm.graph.nodes):
        if node.op == "call_function" and node.target in (F.conv1d, torch.conv1d):
            raise PITError(
                f"functional conv1d at {_where(node)} cannot be searched: PIT converts "
                "nn.Conv1d modules only. Use an nn.Conv1d layer there."
            )
        if node.op != "call_module":
            continue
        module = gm.get_submodule(node.target)
        if type(module) is not nn.Conv1d or _is_excluded(node.target, module, exclude):
            continue
        reason = _ineligible_reason(module)
        if reason is None and uses[node.target] > 1:
            reason = "the module is called more than once"
        if reason is not None:
            warnings.warn(
                f"Conv1d `{node.target}` is left unsearched: {reason}.",
                UnsearchedLayerWarning, stacklevel=3,
            )
            continue
        left, right = _conv_padding(module)
        source = node.args[0]
        extra = _zero_pad_amount(gm, source) if isinstance(source, fx.Node) else None
        if extra is not None and len(source.users) == 1 and min(extra) >= 0:
            left, right = left + extra[0], right + extra[1]
            node.replace_input_with(source, source.args[0])
            gm.graph.erase_node(source)
        user = _only_user(node)
        chomp = _chomp_amount(user) if user is not None else None
        if chomp is not None and chomp <= right:
            right -= chomp
            _bypass(user, node)
        site = ConvSite(node.target, node, module, (left, right))
        user = _only_user(node)
        if user is not None and user.op == "call_module":
            bn = gm.get_submodule(user.target)
            if (
                isinstance(bn, nn.BatchNorm1d) and uses[user.target] == 1
                and bn.num_features == module.out_channels
            ):
                site.bn = bn
                _bypass(user, node)
        sites.append(site)
    gm.graph.lint()
    return sites


class _Groups:
    """Union-find over channel groups, each either searchable or fixed."""

    def __init__(self) -> None:
        self.parent: list[int] = []
        self.fixed: list[bool] = []
        self.adds: list[tuple[fx.Node, list[Segment]]] = []
        """Each tensor-plus-tensor add whose channels the groups follow."""

    def new(self, fixed: bool = False) -> int:
        self.parent.append(len(self.parent))
        self.fixed.append(fixed)
        return len(self.parent) - 1

    def find(self, g: int) -> int:
        while self.parent[g] != g:
            self.parent[g] = self.parent[self.parent[g]]
            g = self.parent[g]
        return g

    def union(self, a: int, b: int) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra
            self.fixed[ra] = self.fixed[ra] or self.fixed[rb]

    def fix(self, segments: Iterable[Segment]) -> None:
        for seg in segments:
            if seg.group is not None:
                self.fixed[self.find(seg.group)] = True

    def is_fixed(self, g: int) -> bool:
        return self.fixed[self.find(g)]


def _channels(node: fx.Node) -> int | None:
    meta = node.meta.get("tensor_meta")
    shape = getattr(meta, "shape", None)
    return int(shape[1]) if shape is not None and len(shape) == 3 else None


def _cat_dim(node: fx.Node) -> int:
    dim = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim", 0)
    return dim


def assign_groups(
    gm: fx.GraphModule, sites: list[ConvSite], search_channels: bool
) -> _Groups:
    """Pass 2: follow channel groups through the graph (needs ``tensor_meta``)."""
    groups = _Groups()
    by_node = {site.node: site for site in sites}
    flow: dict[fx.Node, list[Segment]] = {}

    def fixed_source(node: fx.Node) -> list[Segment]:
        channels = _channels(node)
        return [Segment(None, channels)] if channels is not None else []

    def tracked(arg: object) -> list[Segment] | None:
        return flow.get(arg) if isinstance(arg, fx.Node) else None

    for node in gm.graph.nodes:
        tensor_args = [a for a in node.all_input_nodes if a in flow]
        if node in by_node:
            site = by_node[node]
            site.inputs = flow[node.args[0]]
            if sum(seg.size for seg in site.inputs) != site.conv.in_channels:
                groups.fix(site.inputs)
                site.inputs = [Segment(None, site.conv.in_channels)]
            site.group = groups.new(fixed=not search_channels)
            flow[node] = [Segment(site.group, site.conv.out_channels)]
            continue
        if tensor_args and node.args and node.args[0] in flow and _passes_channels(gm, node):
            flow[node] = flow[node.args[0]]
            continue
        if node.op == "call_function" and node.target in _ADDS:
            a, b = (tracked(x) for x in node.args[:2])
            if a is not None and b is not None and [s.size for s in a] == [s.size for s in b]:
                for sa, sb in zip(a, b, strict=True):
                    _merge(groups, sa, sb)
                if node.target in _SUMS:
                    groups.adds.append((node, a))
                flow[node] = a
                continue
        if node.op == "call_function" and node.target is torch.cat and _cat_dim(node) in (1, -2):
            parts = [tracked(x) for x in node.args[0]]
            if all(p is not None for p in parts):
                flow[node] = [seg for part in parts for seg in part]
                continue
        # Anything else mixes channels or maps zero elsewhere: keep its inputs whole.
        for arg in tensor_args:
            groups.fix(flow[arg])
        flow[node] = fixed_source(node)
    return groups


def _merge(groups: _Groups, a: Segment, b: Segment) -> None:
    if a.group is None and b.group is None:
        return
    if a.group is None or b.group is None:
        groups.fix([a, b])
    else:
        groups.union(a.group, b.group)


def _passes_channels(gm: fx.GraphModule, node: fx.Node) -> bool:
    if node.op == "call_module":
        return isinstance(gm.get_submodule(node.target), _ZERO_PRESERVING_MODULES)
    if node.op == "call_method":
        return node.target in _ZERO_PRESERVING_METHODS
    if node.op == "call_function":
        if node.target in _ZERO_PRESERVING_FUNCTIONS:
            return True
        if node.target in (operator.mul, torch.mul):
            return any(isinstance(a, (int, float)) for a in node.args[:2])
        if node.target is operator.getitem:
            return _chomp_amount(node) is not None
    return False


def replace_sites(gm: fx.GraphModule, sites: list[ConvSite], search: Sequence[str]) -> None:
    """Pass 3: swap a PIT layer in for each conv (channel masks come later)."""
    for site in sites:
        layer = PITConv1d(
            site.conv, site.padding, bn=site.bn,
            search_dilation="dilation" in search and site.conv.kernel_size[0] > 2,
            search_rf="rf" in search and site.conv.kernel_size[0] > 1,
        )
        site.conv.padding = (0,)
        set_submodule(gm, site.name, layer)
    gm.recompile()


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    """Put ``module`` at the dotted ``name`` under ``root``, replacing what is there."""
    parent, _, leaf = name.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, module)


def attach_masks(
    gm: fx.GraphModule, sites: list[ConvSite], groups: _Groups
) -> dict[str, list[tuple[str | None, int]]]:
    """Give each searchable group one shared ChannelMask; return input channel sources.

    A source is ``(name of a PIT layer whose mask governs those channels, size)``, or
    ``(None, size)`` for channels that are always kept.
    """
    owner = _owners(sites, groups)
    for site in sites:
        root = groups.find(site.group)
        if root not in owner:
            continue
        layer = gm.get_submodule(site.name)
        if owner[root] == site.name:
            layer.out_mask = ChannelMask(site.conv.out_channels)
        else:
            layer.out_mask = gm.get_submodule(owner[root]).out_mask
    return {site.name: _sources(site.inputs, groups, owner) for site in sites}


def residual_adds(
    sites: list[ConvSite], groups: _Groups
) -> list[tuple[str, list[tuple[str | None, int]], int]]:
    """Each add that searchable masks make narrower: ``(node name, channel sources,
    time steps)``, the sources as :func:`attach_masks` gives them."""
    owner = _owners(sites, groups)
    found = []
    for node, segments in groups.adds:
        sources = _sources(segments, groups, owner)
        if any(name is not None for name, _ in sources):
            found.append((node.name, sources, int(node.meta["tensor_meta"].shape[-1])))
    return found


@dataclass(frozen=True)
class Branch:
    """A residual branch the search may remove whole (depth search).

    ``head`` is the branch's first searchable conv; its channels feed ``tail`` alone,
    whose output reaches operand ``operand`` of the residual add ``add`` through
    channel-wise ops that map zero to zero. Once ``head`` keeps no channel, ``tail``
    sees zeros; with its bias gated too, the branch adds exactly zero and the add
    passes its other operand through.
    """

    head: str
    tail: str
    add: str
    operand: int


def branches(gm: fx.GraphModule, sites: list[ConvSite], groups: _Groups) -> list[Branch]:
    """The residual branches whose head conv may lose every channel (needs the groups of
    :func:`assign_groups`): head and tail are searchable convs, the head's channel
    group is its own, and the add's other operand does not depend on the head."""
    by_node = {site.node: site for site in sites}
    members = Counter(groups.find(site.group) for site in sites)
    adds = {node for node, _ in groups.adds}
    found = []
    for site in sites:
        root = groups.find(site.group)
        if groups.is_fixed(root) or members[root] != 1:
            continue
        reached = _follow(gm, site.node, lambda n: n in by_node)
        if reached is None:
            continue
        tail = by_node[reached[0]]
        if [groups.find(seg.group) if seg.group is not None else None
                for seg in tail.inputs] != [root]:
            continue
        reached = _follow(gm, tail.node, lambda n: n in adds)
        if reached is None:
            continue
        add, last = reached
        operand = list(add.args[:2]).index(last)
        other = add.args[1 - operand]
        if isinstance(other, fx.Node) and not _depends_on(other, site.node):
            found.append(Branch(site.name, tail.name, add.name, operand))
    return found


def _follow(gm: fx.GraphModule, start: fx.Node, stop: Callable[[fx.Node], bool]
            ) -> tuple[fx.Node, fx.Node] | None:
    """From ``start`` down a chain of single users that act on each channel alone, the
    first node ``stop`` accepts and the chain node it reads; None if the chain forks."""
    node = start
    while (user := _only_user(node)) is not None and user.args and user.args[0] is node:
        if stop(user):
            return user, node
        if not _passes_channels(gm, user):
            return None
        node = user
    if user is not None and stop(user):  # reached as the second operand
        return user, node
    return None


def _depends_on(node: fx.Node, ancestor: fx.Node) -> bool:
    seen, todo = set(), [node]
    while todo:
        current = todo.pop()
        if current is ancestor:
            return True
        if current not in seen:
            seen.add(current)
            todo.extend(current.all_input_nodes)
    return False


def _owners(sites: list[ConvSite], groups: _Groups) -> dict[int, str]:
    """The first PIT layer of each searchable group: the one that holds its mask."""
    owner: dict[int, str] = {}
    for site in sites:
        root = groups.find(site.group)
        if not groups.is_fixed(root):
            owner.setdefault(root, site.name)
    return owner


def _sources(segments: list[Segment], groups: _Groups, owner: dict[int, str]
             ) -> list[tuple[str | None, int]]:
    return [(owner.get(groups.find(seg.group)) if seg.group is not None else None, seg.size)
            for seg in segments]


MASKS = "pit_masks"
"""Name of the :class:`~pit_lightning.nas.bank.MaskBank` in a converted graph."""


def feed_masks(gm: fx.GraphModule, names: Sequence[str], bank: nn.Module) -> None:
    """Evaluate ``bank`` once at the top of the graph and hand the i-th searchable
    layer (``names[i]``) its masks as a second argument."""
    if hasattr(gm, MASKS):
        raise PITError(f"the seed already has a submodule named `{MASKS}`; rename it")
    gm.add_submodule(MASKS, bank)
    graph = gm.graph
    inputs = [node for node in graph.nodes if node.op == "placeholder"]
    with graph.inserting_after(inputs[-1]):
        masks = graph.call_module(MASKS)
    nodes = {node.target: node for node in graph.nodes if node.op == "call_module"}
    for i, name in enumerate(names):
        node = nodes[name]
        with graph.inserting_before(node):
            node.args = (node.args[0], graph.call_function(operator.getitem, (masks, i)))
    graph.lint()
    gm.recompile()


def drop_masks(gm: fx.GraphModule) -> None:
    """Undo :func:`feed_masks` once no node reads the layers' mask arguments."""
    graph = gm.graph
    masks = next(node for node in graph.nodes if node.op == "call_module"
                 and node.target == MASKS)
    for item in list(masks.users):
        graph.erase_node(item)
    graph.erase_node(masks)
    delattr(gm, MASKS)
