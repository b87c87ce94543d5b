"""MaskBank: every mask of a PIT network evaluated in one batch of ops.

Evaluating each layer's masks on its own costs a few dozen tiny ops per layer, each a
kernel launch on a GPU and an autograd node either way, and one optimizer update per
mask parameter: on a small network that is most of the search's overhead. The bank
holds one flat parameter per mask kind (``gamma``, ``beta``, ``alpha``); each mask
module reads its slice of it. Index buffers built once gather the flat parameters into
padded (layer, tap) matrices, so all time masks and all channel masks take a fixed
number of ops whatever the layer count. The values equal what the mask modules
compute one layer at a time.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from .convert import MASKS
from .layer import LayerMasks, PITConv1d
from .masks import THRESHOLD, ChannelMask, Mask, binarized, trailing_zeros, unit_clamp

KINDS = {"dilation": "gamma", "rf": "beta", "channels": "alpha"}
"""Each search option's flat parameter."""


@dataclass
class MaskValues:
    """One evaluation of every mask (binarized or soft) in batched form.

    ``time`` is (layers, max kernel) in tap order (index j = j samples back), zero past
    each layer's kernel; ``channels`` holds every group's channel keep values back to
    back, then a constant 1; ``in_channels``/``out_channels``/``taps`` are the
    per-layer sums.
    """

    time: Tensor
    channels: Tensor
    in_channels: Tensor
    out_channels: Tensor
    taps: Tensor


class MaskBank(nn.Module):
    """Batched evaluation of the masks of ``layers`` (graph order).

    Packs the masks' parameters: from then on they read them from the bank.

    Args:
        layers: the searchable layers, by qualified name in the converted graph.
        channel_masks: each searchable channel group's mask, once.
        out_groups: per layer, the index in ``channel_masks`` of its output mask or None.
        in_sources: per layer, its input channels as ``(group index or None, size)`` runs.
        alive_groups: per layer, the group whose emptying removes the layer's branch
            (the tail of a removable branch: its head's group) or None.
    """

    def __init__(
        self,
        layers: dict[str, PITConv1d],
        channel_masks: Sequence[ChannelMask],
        out_groups: Sequence[int | None],
        in_sources: Sequence[Sequence[tuple[int | None, int]]],
        alive_groups: Sequence[int | None] | None = None,
    ) -> None:
        super().__init__()
        self.alive_groups = list(alive_groups or [None] * len(layers))
        names = list(layers)
        layers = list(layers.values())
        # Plain lists: the masks stay submodules of their layers.
        self._layers = layers
        self._dilation = [layer.dilation_mask for layer in layers
                          if layer.dilation_mask is not None]
        self._rf = [layer.rf_mask for layer in layers if layer.rf_mask is not None]
        self._channels = list(channel_masks)
        # Where each packed mask's parameter lived in a state_dict: older checkpoints.
        # (a shared channel mask was saved under every layer that holds it).
        owners: dict[int, list[str]] = {}
        for name, layer in zip(names, layers, strict=True):
            for attr in ("dilation_mask", "rf_mask", "out_mask"):
                if (mask := getattr(layer, attr)) is not None:
                    owners.setdefault(id(mask), []).append(f"{name}.{attr}")
        self._owners: dict[str, list[list[str]]] = {}
        for kind, masks in (("gamma", self._dilation), ("beta", self._rf),
                            ("alpha", self._channels)):
            if masks:
                self._pack(kind, masks)
                self._owners[kind] = [[f"{owner}.{kind}" for owner in owners[id(mask)]]
                                      for mask in masks]
        self.out_groups = list(out_groups)
        kernels = [layer.kernel_size for layer in layers]
        self.kernel_sizes = kernels
        self.has_time = [layer.has_time_mask for layer in layers]
        width = max(kernels)
        buffer = self._buffer

        valid = torch.zeros(len(layers), width)
        for row, k in enumerate(kernels):
            valid[row, :k] = 1.0
        # A receptive-field mask is zero past its kernel already.
        self.needs_valid = any(layer.rf_mask is None for layer in layers)
        buffer("valid", valid)
        buffer("one", torch.ones(1))
        buffer("ones_row", torch.ones(1, width))
        # Weight order is oldest tap first: weight position p of layer l is tap k - 1 - p.
        buffer("weight_order", torch.tensor(
            [row * width + k - 1 - p for row, k in enumerate(kernels) for p in range(k)]))

        # Dilation: gates[dilation_index[d, j, i]] is gate i of the d-th dilated layer
        # when it gates tap j, else the trailing constant 1.
        gates = sum(mask.levels for mask in self._dilation)
        levels = max((mask.levels for mask in self._dilation), default=0)
        index = torch.full((len(self._dilation), width, max(levels, 1)), gates)
        start = 0
        for d, mask in enumerate(self._dilation):
            for j in range(1, mask.kernel_size):
                for i in range(trailing_zeros(j), mask.levels):
                    index[d, j, i] = start + i
            start += mask.levels
        buffer("dilation_index", index)
        buffer("dilation_row", self._rows([layer.dilation_mask is not None
                                           for layer in layers]))

        # Receptive field: beta of the r-th layer padded to width - 1 (trailing zero),
        # theta of tap j >= 1 is the suffix sum of beta from j - 1 on, theta_0 = 0.
        betas = sum(mask.kernel_size - 1 for mask in self._rf)
        index = torch.full((len(self._rf), max(width - 1, 1)), betas)
        start = 0
        for r, mask in enumerate(self._rf):
            index[r, : mask.kernel_size - 1] = torch.arange(start, start + mask.kernel_size - 1)
            start += mask.kernel_size - 1
        buffer("rf_index", index)
        buffer("zero", torch.zeros(1))
        suffix_sum = torch.zeros(index.shape[1], width)
        suffix_sum[:, 1:] = torch.ones(index.shape[1], width - 1).tril()
        buffer("suffix_sum", suffix_sum)
        newest = torch.zeros(width, dtype=torch.bool)
        newest[0] = True
        buffer("newest", newest)
        buffer("newest_value", newest.float())
        buffer("rf_row", self._rows([layer.rf_mask is not None for layer in layers]))

        # Channels: alpha of every group back to back; the trailing entry is a constant 1
        # for channels no mask governs.
        sizes = [len(mask.alpha) for mask in self._channels]
        self.group_sizes = sizes
        offsets = [sum(sizes[:g]) for g in range(len(sizes))]
        alphas = sum(sizes)
        buffer("group_of", torch.tensor([g for g, n in enumerate(sizes) for _ in range(n)],
                                        dtype=torch.long))
        buffer("position", torch.arange(alphas))
        # Groups that keep their strongest channel whatever the gates say.
        buffer("kept_alive", torch.tensor([not mask.may_empty for mask in self._channels],
                                          dtype=torch.bool))

        def gather(runs: Sequence[tuple[int | None, int]]) -> list[int]:
            return [i for group, size in runs for i in
                    (range(offsets[group], offsets[group] + size) if group is not None
                     else [alphas] * size)]

        outs = [[(group, layer.out_channels)] for group, layer in zip(out_groups, layers,
                                                                       strict=True)]
        ins = [list(runs) for runs in in_sources]
        self.in_sizes = [layer.in_channels for layer in layers]
        self.out_sizes = [layer.out_channels for layer in layers]
        buffer("in_index", torch.tensor([i for runs in ins for i in gather(runs)],
                                        dtype=torch.long))
        buffer("out_index", torch.tensor([i for runs in outs for i in gather(runs)],
                                         dtype=torch.long))
        # Channel keep values of the affine BatchNorms (folded into their terms).
        self._affine = [row for row, layer in enumerate(layers) if layer.out_mask is not None
                        and layer.bn is not None and layer.bn.affine]
        self.affine_sizes = [layers[row].out_channels for row in self._affine]
        buffer("affine_index", torch.tensor([i for row in self._affine for i in gather(outs[row])],
                                            dtype=torch.long))
        # counts @ channels: each layer's input channels, then its output channels.
        counts = torch.zeros(2 * len(layers), alphas + 1)
        for row, runs in enumerate([*ins, *outs]):
            for i in gather(runs):
                counts[row, i] += 1.0
        buffer("counts", counts)

    def get_parameter_of(self, kind: str) -> nn.Parameter | None:
        """The flat parameter of a mask kind (``"dilation"``, ``"rf"``, ``"channels"``),
        None when no layer searches it."""
        return self._parameters.get(KINDS[kind])

    def masks(self) -> list[Mask]:
        """Every mask once (a channel mask shared by several layers, once)."""
        return [*self._dilation, *self._rf, *self._channels]

    def _pack(self, kind: str, masks: Sequence[Mask]) -> None:
        start, values = 0, []
        for mask in masks:
            values.append(mask.pack(self, start))
            start += len(values[-1])
        self.register_parameter(kind, nn.Parameter(torch.cat(values)))

    def pack_state_dict(self, state_dict: dict[str, Tensor], root: str) -> None:
        """Turn the entries of a state_dict saved before the masks were packed (one
        parameter per mask, under its layer) into the flat ones, in place; ``root`` is
        the converted graph's prefix in it."""
        for kind, masks in self._owners.items():
            saved = [[root + key for key in keys if root + key in state_dict] for keys in masks]
            if all(saved):
                state_dict[f"{root}{MASKS}.{kind}"] = torch.cat(
                    [state_dict[keys[0]] for keys in saved])
                for key in (key for keys in saved for key in keys):
                    del state_dict[key]

    def _buffer(self, name: str, value: Tensor) -> None:
        self.register_buffer(name, value, persistent=False)

    @staticmethod
    def _rows(present: Sequence[bool]) -> Tensor:
        """Per layer, 1 + its row among the layers that have the mask, or 0 (none)."""
        rows, count = [], 0
        for has in present:
            count += has
            rows.append(count if has else 0)
        return torch.tensor(rows, dtype=torch.long)

    # -- batched masks -------------------------------------------------------------------

    def _dilation_taps(self, binary: bool) -> Tensor:
        """(dilated layers, width) keep values of the dilation masks."""
        strength = self.gamma.abs()
        if not binary:
            gates = unit_clamp(strength)
        else:
            keep = strength.detach() > THRESHOLD
            forced = [mask.forced for mask in self._dilation]
            if any(level is not None for level in forced):
                keep = torch.where(*self._forced_keep(forced, keep.device), keep)
            gates = binarized(strength, keep)
        gated = gather(torch.cat([gates, self.one]), self.dilation_index).unbind(-1)
        # A chain of products, not prod(): its backward reads the tensor on the host.
        return functools.reduce(operator.mul, gated)

    def _forced_keep(self, forced: list[int | None], device: torch.device
                     ) -> tuple[Tensor, Tensor]:
        """(which gates are imposed, their imposed keep) for the forced levels."""
        imposed, value = [], []
        for mask, level in zip(self._dilation, forced, strict=True):
            imposed += [level is not None] * mask.levels
            value += [level is None or i != level - 1 for i in range(mask.levels)]
        return (torch.tensor(imposed, device=device), torch.tensor(value, device=device))

    def _rf_taps(self, binary: bool) -> Tensor:
        """(layers with a receptive-field mask, width) keep values."""
        theta = gather(torch.cat([self.beta.abs(), self.zero]), self.rf_index) @ self.suffix_sum
        if binary:
            return binarized(theta, (theta.detach() > THRESHOLD) | self.newest)
        return self.newest_value + unit_clamp(theta)

    def time(self, binary: bool, dilation_binary: bool | None = None) -> Tensor:
        """(layers, width) time masks in tap order, zero past each kernel; the
        dilation masks binarized as ``dilation_binary`` says (default: ``binary``)."""
        time = self.valid if self.needs_valid else None
        dilation_binary = binary if dilation_binary is None else dilation_binary
        for masks, rows, taps, as_binary in (
                (self._dilation, self.dilation_row, self._dilation_taps, dilation_binary),
                (self._rf, self.rf_row, self._rf_taps, binary)):
            if not masks:
                continue
            values = taps(as_binary)
            if len(masks) < len(self._layers):
                values = gather(torch.cat([self.ones_row, values]), rows)
            time = values if time is None else time * values
        return time

    def channels(self, binary: bool) -> Tensor:
        """Keep values of every group's channels back to back, then a constant 1."""
        if not self._channels:
            return self.one
        strength = self.alpha.abs()
        if binary:
            # Above the threshold, plus each group's strongest channel (the first one
            # on a tie, as argmax picks): no group is emptied but a removable branch's.
            s = strength.detach()
            top = s.new_zeros(len(self.group_sizes)).scatter_reduce(
                0, self.group_of, s, "amax", include_self=False)
            candidate = torch.where(s == top[self.group_of], self.position, len(s))
            first = torch.full_like(top, len(s), dtype=torch.long).scatter_reduce(
                0, self.group_of, candidate, "amin")
            strongest = (self.position == first[self.group_of]) & self.kept_alive[self.group_of]
            keep = (s > THRESHOLD) | strongest
            values = binarized(strength, keep)
        else:
            values = unit_clamp(strength)
        return torch.cat([values, self.one])

    # -- what the network and the costs read ------------------------------------------

    def forward(self) -> tuple[LayerMasks, ...]:
        """Binarized masks for each layer's forward pass, in layer order."""
        time = gather(self.time(binary=True).flatten(), self.weight_order).split(self.kernel_sizes)
        channels = self.channels(binary=True)
        keep = channels[:-1].split(self.group_sizes) if self._channels else ()
        affine: list[tuple[Tensor, Tensor] | None] = [None] * len(self._layers)
        if self._affine:
            scale = gather(channels, self.affine_index)
            bns = [self._layers[row].bn for row in self._affine]
            weights = (torch.cat([bn.weight for bn in bns]) * scale).split(self.affine_sizes)
            biases = (torch.cat([bn.bias for bn in bns]) * scale).split(self.affine_sizes)
            for i, row in enumerate(self._affine):
                affine[row] = (weights[i], biases[i])
        return tuple(
            (time[row] if self.has_time[row] else None,
             keep[group] if group is not None else None, affine[row],
             keep[alive].detach().amax() if alive is not None else None)
            for row, (group, alive) in enumerate(zip(self.out_groups, self.alive_groups,
                                                     strict=True))
        )

    def values(self, binary: bool, dilation_binary: bool | None = None) -> MaskValues:
        """Every mask and its per-layer sums, as the cost models read them."""
        time = self.time(binary, dilation_binary)
        channels = self.channels(binary)
        in_channels, out_channels = (self.counts @ channels).split(len(self._layers))
        return MaskValues(time, channels, in_channels, out_channels, time.sum(dim=1))

    def layer_keeps(self, channels: Tensor) -> tuple[list[Tensor], list[Tensor]]:
        """Each layer's input and output channel keep values out of ``channels``."""
        return (list(gather(channels, self.in_index).split(self.in_sizes)),
                list(gather(channels, self.out_index).split(self.out_sizes)))


def gather(source: Tensor, index: Tensor) -> Tensor:
    """``source[index]`` along the first dimension, for any index shape.

    ``index_select`` accumulates its gradient with ``index_add``; advanced indexing
    goes through ``index_put`` with sorting.
    """
    return source.index_select(0, index.flatten()).view(*index.shape, *source.shape[1:])
