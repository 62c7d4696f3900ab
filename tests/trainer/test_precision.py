"""The CPU precision "auto" picks: bf16 only where the CPU computes it natively and the
measured switch (`CPU_BF16_BY_DEFAULT`, set from bench/precision.py) is on."""

from __future__ import annotations

import pytest

from trainer import precision
from trainer.precision import Switches, choose


def test_auto_on_this_cpu_follows_the_measured_switch_and_the_cpus_flags() -> None:
    native = precision.cpu_has_native_bf16()
    expected = "bf16" if precision.CPU_BF16_BY_DEFAULT and native else "fp32"

    assert Switches("cpu", expected) == choose("cpu", "auto", parameters=10)


def test_with_the_switch_on_a_cpu_with_native_bf16_trains_in_bf16_and_others_in_fp32(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(precision, "CPU_BF16_BY_DEFAULT", True)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)
    with_native = choose("cpu", "auto", parameters=10)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: False)
    emulated = choose("cpu", "auto", parameters=10)

    assert ("bf16", "fp32") == (with_native.precision, emulated.precision)
    assert "training on cpu in bf16" == with_native.describe()


def test_an_explicit_precision_wins_over_auto(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(precision, "CPU_BF16_BY_DEFAULT", True)
    monkeypatch.setattr(precision, "cpu_has_native_bf16", lambda: True)

    assert "fp32" == choose("cpu", "fp32", parameters=10).precision
