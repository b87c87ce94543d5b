"""A PIT search space as board geometries: enumeration per search option and exported keys."""

from __future__ import annotations

import pytest

from hw_profiler.geometry import ChannelGrid, LayerGeometry
from pit_lightning.cost.geometry import LayerArch, LayerSpace
from pit_lightning.hardware import enumerate_geometries, geometry_of, layer_geometries


def space(name="l", c_in=8, c_out=16, k=5, dil=(1, 2, 4), length=32, sin=True, sout=True):
    return LayerSpace(name, c_in, c_out, k, dil, length, True, sin, sout)


def test_layer_geometries_per_search_option() -> None:
    s = space(c_in=4, c_out=8, k=5)
    # dilation only: taps = max_taps(d) -> (5,1) (3,2) (2,4)
    dil = layer_geometries(s, ("dilation",))
    assert {(g.kernel, g.dilation) for g in dil} == {(5, 1), (3, 2), (2, 4)}
    assert {(g.c_in, g.c_out) for g in dil} == {(4, 8)}
    # receptive field only: 1..5 taps at dilation 1
    assert {g.kernel for g in layer_geometries(s, ("rf",))} == {1, 2, 3, 4, 5}
    # everything: one tap is one geometry whatever the dilation
    full = layer_geometries(s, ("dilation", "rf", "channels"), ChannelGrid(4))
    kd = {(g.kernel, g.dilation) for g in full}
    assert kd == {(1, 1), (2, 1), (3, 1), (4, 1), (5, 1), (2, 2), (3, 2), (2, 4)}
    assert {g.c_in for g in full} == {1, 4} and {g.c_out for g in full} == {1, 4, 8}
    assert len(full) == len(kd) * 2 * 3
    with pytest.raises(ValueError, match=r"unknown search option\(s\) \['width'\]"):
        layer_geometries(s, ("width",))


def test_enumeration_deduplicates_across_layers() -> None:
    a = space("a", c_in=4, c_out=8, sin=False)
    b = space("b", c_in=4, c_out=8, sin=False)  # same geometry as a: no new entries
    c = space("c", c_in=8, c_out=8, length=16)
    one = enumerate_geometries([a])
    both = enumerate_geometries([a, b])
    assert one == both
    allg = enumerate_geometries([a, b, c])
    assert len(allg) == len(set(allg)) and allg == sorted(allg)
    assert {g.length for g in allg} == {32, 16}


def test_geometry_from_exported_arch() -> None:
    arch = LayerArch("l", 16, 8, 3, 4, 9, 64, True)
    assert geometry_of(arch) == LayerGeometry("conv1d", 16, 8, 3, 4, 64)
    one_tap = LayerArch("l", 16, 8, 1, 8, 1, 64, True)
    assert geometry_of(one_tap).dilation == 1


def test_geometries_command_lists_a_seeds_search_space(tmp_path) -> None:
    from hw_profiler.geometry import read_geometries
    from pit_lightning.cli import main
    from pit_lightning.hardware import spaces_from_seed

    out = tmp_path / "temponet.txt"
    main(["geometries", "--seed", "TEMPONet", "--search", "dilation,rf", "--out", str(out)])
    search = ("dilation", "rf")
    expected = enumerate_geometries(spaces_from_seed("TEMPONet", search), search)
    assert read_geometries(out.read_text()) == expected
    with pytest.raises(ValueError, match="unknown seed 'LeNet'"):
        spaces_from_seed("LeNet")
