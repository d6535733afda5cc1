"""A bench file gives each instrument one role: two roles on one resource are refused with both
roles and the resource named, except the channels of one multi-channel instrument."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from benchtest.config.bench import Bench
from benchtest.values.errors import ConfigError

SOCKET = "TCPIP::192.168.1.20::5025::SOCKET"


def load(folder: Path, instruments: dict[str, Any], **extra: Any) -> Bench:
    path = folder / "bench.yaml"
    data = {"schema_version": 1, "instruments": instruments, **extra}
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return Bench.load(path)


def role(driver: str, resource: str, **options: Any) -> dict[str, Any]:
    return {"driver": driver, "resource": resource, **({"options": options} if options else {})}


def test_two_roles_on_one_resource_are_refused_naming_both_and_the_resource(
    tmp_path: Path,
) -> None:
    instruments = {
        "smu": role("keithley.k2450", SOCKET),
        "psu": role("rigol.dp800", "tcpip::192.168.1.20::5025::socket"),  # the same, spelt so
    }
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, instruments)
    assert refused.value.field == "instruments.psu.resource"
    assert str(refused.value).startswith(
        f"{tmp_path / 'bench.yaml'}: instruments.psu.resource: roles 'smu' (instruments.smu) "
        "and 'psu' (instruments.psu) both use the instrument at "
        "tcpip::192.168.1.20::5025::socket: one role drives an instrument"
    )
    assert "channel" not in refused.value.problem  # no channels to choose between


def test_the_channels_of_one_multi_channel_instrument_are_roles_of_their_own(
    tmp_path: Path,
) -> None:
    b2902 = "TCPIP::192.168.1.30::inst0::INSTR"
    bench = load(
        tmp_path,
        {
            "smu": role("keysight.b2900", b2902),  # channel 1, the driver's default
            "load": role("keysight.b2900", b2902, channel=2),
        },
    )
    assert sorted(bench.roles) == ["load", "smu"]


@pytest.mark.parametrize("channels", [(2, 2), (None, 1)])
def test_two_roles_on_one_channel_are_refused_with_the_channel_hint(
    tmp_path: Path, channels: tuple[int | None, int]
) -> None:
    b2902 = "TCPIP::192.168.1.30::inst0::INSTR"
    first = {} if channels[0] is None else {"channel": channels[0]}
    instruments = {
        "smu": role("keysight.b2900", b2902, **first),
        "load": role("keysight.b2900", b2902, channel=channels[1]),
    }
    with pytest.raises(
        ConfigError, match=re.escape("or each its own channel of the keysight.b2900")
    ):
        load(tmp_path, instruments)


def test_a_resource_of_two_sites_is_refused_and_a_shared_one_is_not(tmp_path: Path) -> None:
    sites = {
        "A": {"instruments": {"smu": role("keithley.k2450", SOCKET)}},
        "B": {"instruments": {"smu": role("keithley.k2450", SOCKET)}},
    }
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, {"scope": role("rigol.ds1000z", "TCPIP::192.168.1.9::INSTR")}, sites=sites)
    assert refused.value.field == "sites.B.instruments.smu.resource"
    assert "roles 'smu' (sites.A.instruments.smu) and 'smu' (sites.B.instruments.smu)" in str(
        refused.value
    )
    sites["B"]["instruments"]["smu"]["resource"] = "TCPIP::192.168.1.21::5025::SOCKET"
    bench = load(
        tmp_path, {"scope": role("rigol.ds1000z", "TCPIP::192.168.1.9::INSTR")}, sites=sites
    )
    assert list(bench.sites) == ["A", "B"]
    with pytest.raises(ConfigError, match=r"roles 'scope' \(instruments\.scope\) and 'smu'"):
        load(tmp_path, {"scope": role("rigol.ds1000z", SOCKET)}, sites=sites)


def test_simulated_roles_and_instruments_behind_one_adapter_are_each_their_own(
    tmp_path: Path,
) -> None:
    bench = load(
        tmp_path,
        {
            "smu": role("keithley.k2450", "sim://smu"),
            "psu": role("keithley.k2450", "sim://smu"),  # the simulated instrument of each role
            "dmm": role("generic.scpi_dmm", "prologix://192.168.1.50/22"),
            "k2400": role("keithley.k2400", "prologix://192.168.1.50:1234/24"),
        },
    )
    assert len(bench.roles) == 4
    with pytest.raises(ConfigError, match=r"'dmm' \(instruments\.dmm\) and 'k2400'"):
        load(
            tmp_path,
            {
                "dmm": role("generic.scpi_dmm", "prologix://192.168.1.50/24"),
                "k2400": role("keithley.k2400", "prologix://192.168.1.50:1234/24"),
            },
        )
