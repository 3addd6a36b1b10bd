"""How `SpecModel` runs cross-field rules and shares default sub-sections (both tuned for large fleets)."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Interface, IPv6Address, IPv6Interface, ip_address, ip_interface
from pathlib import Path

import pytest
from hakit.spec.base import Problem, SpecModel, address_key, shared_default
from hakit.spec.inventory import load_inventory
from hakit.spec.proxy import Timeouts
from pydantic import ConfigDict, Field, ValidationError

EXAMPLE = Path(__file__).parents[2] / "examples" / "inventory.yaml"


class _Plain(SpecModel):
    value: int = 0


class _Ruled(SpecModel):
    value: int = 0

    def rules(self) -> Iterator[Problem]:
        """The value must be even."""
        if self.value % 2:
            yield Problem(("value",), "must be even")


class _Child(_Ruled):
    extra: int = 0


class _RulesMixin:
    def rules(self) -> Iterator[Problem]:
        """A rule that comes from a mixin, not from a SpecModel."""
        yield Problem(("value",), "mixin rule ran")


class _Mixed(_RulesMixin, SpecModel):
    value: int = 0


def _after_validators(model: type[SpecModel]) -> list[str]:
    return [
        name
        for name, info in model.__pydantic_decorators__.model_validators.items()
        if info.info.mode == "after"
    ]


def test_a_model_without_rules_has_no_rule_validator() -> None:
    assert _after_validators(_Plain) == []
    assert _Plain.model_validate({"value": 3}).value == 3


@pytest.mark.parametrize("model", [_Ruled, _Child])
def test_rules_run_for_the_model_and_its_subclasses(model: type[SpecModel]) -> None:
    with pytest.raises(ValidationError, match="must be even"):
        model.model_validate({"value": 3})
    assert model.model_validate({"value": 4})


def test_rules_from_a_mixin_run_too() -> None:
    with pytest.raises(ValidationError, match="mixin rule ran"):
        _Mixed.model_validate({"value": 1})


def test_rules_of_a_nested_model_report_its_path() -> None:
    class Outer(SpecModel):
        inner: _Ruled

    with pytest.raises(ValidationError) as caught:
        Outer.model_validate({"inner": {"value": 1}})
    assert [error["loc"] for error in caught.value.errors()] == [("inner", "value")]


class _Frozen(SpecModel):
    model_config = ConfigDict(frozen=True)
    value: int = 1


def test_a_shared_default_must_be_frozen() -> None:
    with pytest.raises(TypeError, match="must be frozen"):
        shared_default(_Plain)


def test_a_shared_default_is_one_instance_that_refuses_changes() -> None:
    class Owner(SpecModel):
        section: _Frozen = Field(default_factory=shared_default(_Frozen))

    first, second = Owner(), Owner()
    assert first.section is second.section
    with pytest.raises(ValidationError, match="frozen"):
        first.section.value = 2
    assert second.section.value == 1


def test_inventory_defaults_are_shared_and_frozen() -> None:
    """Two clusters that leave out timeouts and garp share the frozen defaults; nothing can edit them."""
    inventory = load_inventory(EXAMPLE)
    edge, api = inventory.load_balancers["edge"], inventory.load_balancers["api"]
    assert "timeouts" not in edge.proxy.model_fields_set and "garp" not in api.vrrp.model_fields_set
    assert edge.proxy.timeouts is api.proxy.timeouts
    assert edge.vrrp.garp is api.vrrp.garp
    with pytest.raises(ValidationError, match="frozen"):
        edge.proxy.timeouts.server = 1
    assert api.proxy.timeouts.server == Timeouts().server


def _address_pool() -> list[IPv4Address | IPv6Address | IPv4Interface | IPv6Interface]:
    """Addresses and interfaces, IPv4 and IPv6, with and without scope ids, sharing integers."""
    pool: list[IPv4Address | IPv6Address | IPv4Interface | IPv6Interface] = []
    for number in (0, 1, 167772161, 2**32 - 1, 2**96 + 1):
        texts = [str(IPv4Address(number))] if number < 2**32 else []
        texts += [str(IPv6Address(number)) + suffix for suffix in ("", "%eth0", "%eth1")]
        for text in texts:
            pool += [ip_address(text), ip_interface(f"{text}/24"), ip_interface(f"{text}/32")]
    return pool


def test_address_keys_are_equal_exactly_when_the_addresses_are() -> None:
    """The fleet-wide rules compare keys where they compared `str(x.ip)`: every pair of the pool agrees.

    An interface's `.ip` has no scope id in Python, a bare address keeps it: fe80::1%eth0 and
    fe80::1%eth1 are two addresses, an interface fe80::1%eth0/64 is the address fe80::1.
    """
    pool = _address_pool()
    texts = [str(item.ip if isinstance(item, IPv4Interface | IPv6Interface) else item) for item in pool]
    keys = [address_key(item) for item in pool]
    for (text, key), (other_text, other_key) in itertools.product(zip(texts, keys, strict=True), repeat=2):
        assert (key == other_key) == (text == other_text), (text, other_text)
