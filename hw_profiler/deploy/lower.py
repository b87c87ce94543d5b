"""Lower a plain exported torch network to a flat list of board layers (float, BN folded).

Accepted: nn.Conv1d with any stride and dilation and zero padding on either side (its
own ``padding``, a nn.ConstantPad1d of zeros before it, and a "chomp" slice
``x[:, :, :-n]`` after a stride-1 conv, which drops right padding): the board's CONV;
BatchNorm1d folded into the conv/linear before it; ReLU/ReLU6 fused as clamps;
AvgPool1d/MaxPool1d; AdaptiveAvgPool1d to a length that divides the input's (global
average pooling is ``AdaptiveAvgPool1d(1)``); Flatten; Linear; residual ``+``;
Dropout/Identity and a final squeeze/view are no-ops. Anything else is refused with the
node's name.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from hw_profiler.errors import DeployError
from hw_profiler.geometry import LayerGeometry

ACTS = ("none", "relu", "relu6")


@dataclass
class TensorInfo:
    """A board tensor: [length][channels], channel-last."""

    id: int
    channels: int
    length: int
    # [T][C] -> [1][T*C] flattens keep torch's (C, T) element order reachable
    flattened_from: tuple[int, int] | None = None  # (C, T) before flatten

    @property
    def elements(self) -> int:
        return self.channels * self.length


@dataclass
class LayerIR:
    """One board layer in float, before quantization."""

    name: str
    op: str  # conv | linear | avgpool | maxpool | add | flatten
    inputs: list[int]
    output: int
    weight: np.ndarray | None = None  # conv (Cout, Cin, k); linear (Cout, Cin), torch order
    bias: np.ndarray | None = None
    kernel: int = 1
    dilation: int = 1
    stride: int = 1
    padding: tuple[int, int] = (0, 0)  # conv zero padding (left, right)
    act: str = "none"


@dataclass
class GraphIR:
    tensors: list[TensorInfo] = field(default_factory=list)
    layers: list[LayerIR] = field(default_factory=list)
    input: int = 0
    output: int = 0

    def new_tensor(self, channels: int, length: int) -> TensorInfo:
        t = TensorInfo(len(self.tensors), channels, length)
        self.tensors.append(t)
        return t

    def producer(self, tensor: int) -> LayerIR | None:
        for layer in self.layers:
            if layer.output == tensor:
                return layer
        return None

    def run_float(self, x: Tensor, record: dict[int, Tensor] | None = None) -> Tensor:
        """Run in float64 on (N, C, T) input; fills ``record`` with every tensor."""
        values: dict[int, Tensor] = {self.input: x.double()}
        for layer in self.layers:
            ins = [values[i] for i in layer.inputs]
            values[layer.output] = _float_layer(layer, ins, self.tensors[layer.output])
        if record is not None:
            record.update(values)
        return values[self.output]


def _float_layer(layer: LayerIR, ins: list[Tensor], out: TensorInfo) -> Tensor:
    x = ins[0]
    if layer.op == "conv":
        w = torch.from_numpy(layer.weight).double()
        b = None if layer.bias is None else torch.from_numpy(layer.bias).double()
        y = F.conv1d(F.pad(x, layer.padding), w, b, stride=layer.stride, dilation=layer.dilation)
    elif layer.op == "linear":
        w = torch.from_numpy(layer.weight).double()
        b = None if layer.bias is None else torch.from_numpy(layer.bias).double()
        y = torch.einsum("nct,oc->not", x, w) + (0 if b is None else b[None, :, None])
    elif layer.op == "avgpool":
        y = F.avg_pool1d(x, layer.kernel, layer.stride)
    elif layer.op == "maxpool":
        y = F.max_pool1d(x, layer.kernel, layer.stride)
    elif layer.op == "add":
        y = ins[0] + ins[1]
    elif layer.op == "flatten":
        y = x.flatten(1)[:, :, None]
    else:  # pragma: no cover - guarded by the lowering
        raise DeployError(f"unknown op {layer.op}")
    if layer.act == "relu":
        y = y.clamp_min(0)
    elif layer.act == "relu6":
        y = y.clamp(0, 6)
    return y


# (N, C, T) is the layout every IR tensor has in float; flatten gives (N, C*T, 1)


class _Lowering:
    def __init__(self, gm: fx.GraphModule) -> None:
        self.gm = gm
        self.modules = dict(gm.named_modules())
        self.ir = GraphIR()
        self.value: dict[fx.Node, int] = {}  # fx node -> IR tensor id
        # node -> (tensor, (left, right)): a zero pad waiting for the conv it feeds
        self.pending_pad: dict[fx.Node, tuple[int, tuple[int, int]]] = {}
        self.users = {n: len(n.users) for n in gm.graph.nodes}

    def fail(self, node: fx.Node, why: str) -> DeployError:
        return DeployError(f"cannot deploy node {node.name!r} ({node.target}): {why}")

    def shape(self, node: fx.Node) -> tuple[int, ...]:
        meta = node.meta.get("tensor_meta")
        if meta is None:
            raise self.fail(node, "no shape (is it a tensor?)")
        return tuple(meta.shape)

    def tensor_of(self, node: fx.Node, consumer: fx.Node) -> int:
        if node in self.pending_pad:
            raise self.fail(consumer, "a ConstantPad1d output may only feed a Conv1d")
        try:
            return self.value[node]
        except KeyError:
            raise self.fail(consumer, f"input {node.name!r} was not lowered") from None

    def fusable(self, node: fx.Node) -> LayerIR | None:
        """The layer producing ``node`` when only this consumer reads it."""
        tid = self.value.get(node)
        if tid is None or self.users[node] != 1:
            return None
        layer = self.ir.producer(tid)
        return layer if layer is not None and layer.op in ("conv", "linear", "add") else None

    def run(self) -> GraphIR:
        for node in self.gm.graph.nodes:
            if node.op == "placeholder":
                shape = self.shape(node)
                if len(shape) != 3 or shape[0] != 1:
                    raise self.fail(node, f"input must be (1, C, T), got {shape}")
                t = self.ir.new_tensor(shape[1], shape[2])
                self.ir.input = t.id
                self.value[node] = t.id
            elif node.op == "output":
                (result,) = node.args
                if not isinstance(result, fx.Node):
                    raise self.fail(node, "the network must return one tensor")
                self.ir.output = self.tensor_of(result, node)
            elif node.op == "call_module":
                self.module(node, self.modules[node.target])
            elif node.op in ("call_function", "call_method"):
                self.function(node)
            elif node.op == "get_attr":
                raise self.fail(node, "parameters used as values are not supported")
        if not self.ir.layers:
            raise DeployError("the network has no layers to deploy")
        return self.ir

    def alias(self, node: fx.Node, src: fx.Node) -> None:
        if src in self.pending_pad:
            self.pending_pad[node] = self.pending_pad[src]
        else:
            self.value[node] = self.tensor_of(src, node)
        self.users[src] += self.users[node] - 1

    def add_layer(self, node: fx.Node, layer: LayerIR, channels: int, length: int) -> None:
        t = self.ir.new_tensor(channels, length)
        layer.output = t.id
        self.ir.layers.append(layer)
        self.value[node] = t.id

    def module(self, node: fx.Node, mod: nn.Module) -> None:
        src = node.args[0]
        if isinstance(mod, (nn.Dropout, nn.Identity)):
            self.alias(node, src)
        elif isinstance(mod, nn.ConstantPad1d):
            left, right = mod.padding
            if mod.value != 0 or left < 0 or right < 0:
                raise self.fail(node, "only zero padding (no cropping) is supported")
            self.pending_pad[node] = (self.tensor_of(src, node), (left, right))
        elif isinstance(mod, nn.Conv1d):
            self.conv(node, mod)
        elif isinstance(mod, nn.BatchNorm1d):
            self.batchnorm(node, mod)
        elif isinstance(mod, (nn.ReLU, nn.ReLU6)):
            self.activation(node, "relu" if isinstance(mod, nn.ReLU) else "relu6")
        elif isinstance(mod, nn.Hardtanh) and (mod.min_val, mod.max_val) == (0.0, 6.0):
            self.activation(node, "relu6")
        elif isinstance(mod, (nn.AvgPool1d, nn.MaxPool1d)):
            self.pool(node, mod)
        elif isinstance(mod, nn.AdaptiveAvgPool1d):
            self.adaptive_pool(node, mod)
        elif isinstance(mod, nn.Flatten):
            self.flatten(node)
        elif isinstance(mod, nn.Linear):
            self.linear(node, mod)
        else:
            raise self.fail(node, f"module type {type(mod).__name__} is not supported")

    def function(self, node: fx.Node) -> None:
        target = node.target
        name = getattr(target, "__name__", str(target))
        if target in (operator.add, torch.add) or name in ("add", "add_", "__add__"):
            self.add(node)
        elif target in (F.relu, torch.relu) or name in ("relu", "relu_"):
            self.activation(node, "relu")
        elif target is F.relu6 or name == "relu6":
            self.activation(node, "relu6")
        elif target in (torch.flatten,) or name == "flatten":
            self.flatten(node)
        elif target is operator.getitem:
            self.chomp(node)
        elif name in ("squeeze", "view", "reshape", "contiguous", "dropout"):
            src = node.args[0]
            if name in ("squeeze", "view", "reshape") and any(u.op != "output" for u in node.users):
                raise self.fail(node, f"{name} is only supported right before the output")
            self.alias(node, src)
        else:
            raise self.fail(node, "operation is not supported")

    def conv(self, node: fx.Node, mod: nn.Conv1d) -> None:
        src = node.args[0]
        left = right = 0
        if src in self.pending_pad:
            tid, (left, right) = self.pending_pad[src]
        else:
            tid = self.tensor_of(src, node)
        k, d, s = mod.kernel_size[0], mod.dilation[0], mod.stride[0]
        if isinstance(mod.padding, str):
            raise self.fail(node, f"padding={mod.padding!r}: give the padding in samples")
        if mod.groups != 1:
            raise self.fail(node, "grouped/depthwise convolutions are not supported")
        if mod.padding_mode != "zeros":
            raise self.fail(node, f"padding_mode={mod.padding_mode!r}: only zero padding")
        pad = (left + mod.padding[0], right + mod.padding[0])
        t = self.ir.tensors[tid]
        span = t.length + pad[0] + pad[1] - (k - 1) * d
        if span < 1:
            raise self.fail(node, f"kernel span {(k - 1) * d + 1} is longer than the padded "
                                  f"input ({t.length + pad[0] + pad[1]})")
        w = mod.weight.detach().double().numpy().copy()
        b = None if mod.bias is None else mod.bias.detach().double().numpy().copy()
        layer = LayerIR(node.name, "conv", [tid], -1, w, b, k, d, s, pad)
        self.add_layer(node, layer, w.shape[0], (span - 1) // s + 1)

    def chomp(self, node: fx.Node) -> None:
        """``conv_out[:, :, :-n]`` after a stride-1 conv drops ``n`` of its right padding
        (the symmetric-pad-then-chomp way of writing a causal conv)."""
        src, index = node.args
        tid = self.value.get(src)
        layer = self.ir.producer(tid) if tid is not None else None
        ok = (
            layer is not None
            and layer.op == "conv"
            and layer.stride == 1
            and layer.act == "none"
            and self.users[src] == 1
            and isinstance(index, tuple)
            and len(index) == 3
            and index[0] == slice(None)
            and index[1] == slice(None)
            and isinstance(index[2], slice)
            and index[2].start is None
            and index[2].step is None
            and isinstance(index[2].stop, int)
            and index[2].stop < 0
        )
        if not ok:
            raise self.fail(
                node, "indexing is only supported as a chomp x[:, :, :-n] right after a "
                      "stride-1 Conv1d that nothing else reads"
            )
        assert layer is not None and tid is not None
        n = -index[2].stop
        if n > layer.padding[1]:
            raise self.fail(
                node, f"chomps {n} samples but {src.name!r} has only {layer.padding[1]} "
                      "samples of right padding"
            )
        layer.padding = (layer.padding[0], layer.padding[1] - n)
        self.ir.tensors[tid].length -= n
        self.value[node] = tid

    def linear(self, node: fx.Node, mod: nn.Linear) -> None:
        tid = self.tensor_of(node.args[0], node)
        t = self.ir.tensors[tid]
        if len(self.shape(node.args[0])) != 2:
            raise self.fail(
                node,
                "Linear must read a (N, features) tensor (flatten first): "
                "on (N, C, T) torch would mix time steps",
            )
        if t.channels != mod.in_features:
            raise self.fail(
                node,
                f"Linear expects {mod.in_features} features, the tensor has "
                f"{t.channels} channels (flatten first)",
            )
        w = mod.weight.detach().double().numpy().copy()
        b = None if mod.bias is None else mod.bias.detach().double().numpy().copy()
        self.add_layer(
            node, LayerIR(node.name, "linear", [tid], -1, w, b), mod.out_features, t.length
        )

    def batchnorm(self, node: fx.Node, mod: nn.BatchNorm1d) -> None:
        layer = self.fusable(node.args[0])
        if layer is None or layer.op == "add" or layer.act != "none":
            raise self.fail(node, "BatchNorm1d must directly follow a Conv1d or Linear")
        var = mod.running_var.double().numpy()
        mean = mod.running_mean.double().numpy()
        gamma = mod.weight.detach().double().numpy() if mod.affine else np.ones_like(var)
        beta = mod.bias.detach().double().numpy() if mod.affine else np.zeros_like(var)
        scale = gamma / np.sqrt(var + mod.eps)
        assert layer.weight is not None
        layer.weight = layer.weight * scale.reshape(-1, *([1] * (layer.weight.ndim - 1)))
        bias = layer.bias if layer.bias is not None else np.zeros_like(var)
        layer.bias = (bias - mean) * scale + beta
        self.value[node] = layer.output

    def activation(self, node: fx.Node, act: str) -> None:
        src = node.args[0]
        tid = self.value.get(src)
        producer = self.ir.producer(tid) if tid is not None else None
        if producer is not None and producer.act == act:
            # Applied twice is applied once (e.g. a residual block removed by a search
            # leaves the ReLU after its add on the previous block's output).
            self.alias(node, src)
            return
        layer = self.fusable(src)
        if layer is None or layer.act != "none":
            raise self.fail(
                node, f"{act} must follow a Conv1d, Linear or residual add that nothing else reads"
            )
        layer.act = act
        self.value[node] = layer.output

    def pool(self, node: fx.Node, mod: nn.AvgPool1d | nn.MaxPool1d) -> None:
        tid = self.tensor_of(node.args[0], node)
        k = _one(mod.kernel_size)
        s = _one(mod.stride if mod.stride is not None else k)
        if _one(mod.padding) != 0 or mod.ceil_mode:
            raise self.fail(node, "pooling with padding or ceil_mode is not supported")
        if isinstance(mod, nn.MaxPool1d) and _one(mod.dilation) != 1:
            raise self.fail(node, "dilated max pooling is not supported")
        t = self.ir.tensors[tid]
        if t.length < k:
            raise self.fail(node, f"pool kernel {k} is longer than the input ({t.length})")
        op = "avgpool" if isinstance(mod, nn.AvgPool1d) else "maxpool"
        self.add_layer(
            node,
            LayerIR(node.name, op, [tid], -1, kernel=k, stride=s),
            t.channels,
            (t.length - k) // s + 1,
        )

    def adaptive_pool(self, node: fx.Node, mod: nn.AdaptiveAvgPool1d) -> None:
        """AdaptiveAvgPool1d(n) on a length that n divides is AvgPool1d(T/n, T/n)."""
        tid = self.tensor_of(node.args[0], node)
        t = self.ir.tensors[tid]
        n = _one(mod.output_size)
        if n < 1 or t.length % n:
            raise self.fail(
                node, f"output size {n} must divide the input length {t.length}"
            )
        k = t.length // n
        self.add_layer(
            node, LayerIR(node.name, "avgpool", [tid], -1, kernel=k, stride=k), t.channels, n
        )

    def flatten(self, node: fx.Node) -> None:
        start = node.kwargs.get("start_dim", node.args[1] if len(node.args) > 1 else 1)
        if isinstance(self.modules.get(node.target), nn.Flatten):
            mod = self.modules[node.target]
            start = mod.start_dim
            if mod.end_dim != -1:
                raise self.fail(node, "Flatten must flatten every dimension after the batch")
        if start != 1:
            raise self.fail(node, "only flatten(start_dim=1) is supported")
        tid = self.tensor_of(node.args[0], node)
        t = self.ir.tensors[tid]
        self.add_layer(node, LayerIR(node.name, "flatten", [tid], -1), t.channels * t.length, 1)
        self.ir.tensors[-1].flattened_from = (t.channels, t.length)

    def add(self, node: fx.Node) -> None:
        a, b = node.args[:2]
        if not (isinstance(a, fx.Node) and isinstance(b, fx.Node)):
            raise self.fail(node, "only tensor + tensor is supported (no constants)")
        ta, tb = self.tensor_of(a, node), self.tensor_of(b, node)
        x, y = self.ir.tensors[ta], self.ir.tensors[tb]
        if (x.channels, x.length) != (y.channels, y.length):
            raise self.fail(
                node, f"residual shapes differ: {x.channels}x{x.length} vs {y.channels}x{y.length}"
            )
        self.add_layer(node, LayerIR(node.name, "add", [ta, tb], -1), x.channels, x.length)


def _one(v: int | tuple[int, ...]) -> int:
    return v[0] if isinstance(v, tuple) else int(v)


def lower(model: nn.Module, example: Tensor) -> GraphIR:
    """Trace ``model`` (a GraphModule is used as is) and lower it for the board."""
    model = model.eval()
    try:
        gm = model if isinstance(model, fx.GraphModule) else fx.symbolic_trace(model)
    except Exception as exc:
        raise DeployError(f"torch.fx cannot trace the network: {exc}") from exc
    with torch.no_grad():
        ShapeProp(gm).propagate(example[:1].float())
    return _Lowering(gm).run()


_TABLE_OPS = {"conv": "conv1d", "linear": "linear", "avgpool": "avgpool", "maxpool": "maxpool",
              "add": "add"}


def network_geometries(
    model: nn.Module, example: Tensor, dtype: str = "int8"
) -> list[tuple[str, LayerGeometry]]:
    """Each board layer of ``model`` as a latency-table key, in execution order.

    Summing the table entries of these geometries predicts the network's end-to-end
    latency (flattens are free on the board: they only rename a buffer).
    """
    ir = lower(model, example[:1])
    geometries = []
    for layer in ir.layers:
        if layer.op not in _TABLE_OPS:
            continue
        src, dst = ir.tensors[layer.inputs[0]], ir.tensors[layer.output]
        op = _TABLE_OPS[layer.op]
        kernel = layer.kernel if op in ("conv1d", "avgpool", "maxpool") else 1
        dilation = layer.dilation if op == "conv1d" and kernel > 1 else 1
        length = src.length
        if op == "conv1d":  # the table's conv is padded by (k-1)*d: same output length
            length += sum(layer.padding) - (layer.kernel - 1) * layer.dilation
        geometries.append((layer.name, LayerGeometry(
            op, src.channels, dst.channels, kernel, dilation, length, dtype, layer.stride
        )))
    return geometries
