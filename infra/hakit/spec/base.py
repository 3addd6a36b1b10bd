"""Base pydantic model and shared field types for hakit specs (inventory, stack config)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache, lru_cache
from ipaddress import IPv4Address, IPv4Interface, IPv4Network, IPv6Address, IPv6Interface, ip_address
from socket import inet_aton
from types import UnionType
from typing import Annotated, Any, NamedTuple, TypeVar, Union, get_args, get_origin

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

Loc = tuple[str | int, ...]

CONTROL_CHARACTERS = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")
"""C0 (with tab, CR, LF), DEL, C1, the Unicode line/paragraph separators, bidirectional overrides and the
zero-width no-break space: never in any spec string.

Every daemon reads its config line by line (a line break inside a value starts a new directive); the
invisible ones make a name or an error line read differently from what it is.
"""

MAX_STRING = 4096
"""The longest string a `Token` or `Text` field accepts."""

_CHECKING: ContextVar[bool] = ContextVar("hakit_spec_strings_checked", default=False)


LINE_BREAKS_ALLOWED = object()
"""Marker in `Multiline`'s metadata: the one place where a string may hold line breaks and tabs."""

_MULTILINE_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u2028-\u202e\u2066-\u2069\ufeff]")


@contextmanager
def strings_already_checked() -> Iterator[None]:
    """Skip the control-character walk of the models validated inside (the caller checked every string).

    For the YAML loader only, when its fast reader vouches for the file (`YamlDocument.strings_checked`):
    every string it built is a piece of one line of a text without control characters. Data from
    anywhere else is still walked.
    """
    token = _CHECKING.set(True)
    try:
        yield
    finally:
        _CHECKING.reset(token)


def control_character_problems(value: Any, annotation: Any = None, loc: Loc = ()) -> Iterator[Problem]:
    """Every string in `value` (dict keys included) that holds a control character, in document order.

    `annotation` (a model class or a type) tells where a `Multiline` field allows line breaks; a value
    whose type is unknown is checked strictly.
    """
    stack: list[tuple[Any, Any, Loc]] = [(value, annotation, loc)]
    while stack:  # an explicit stack: depth is bounded by the loader, not by Python's recursion limit
        node, kind, where = stack.pop()
        if isinstance(node, str):
            pattern = _MULTILINE_CONTROL if kind is LINE_BREAKS_ALLOWED else CONTROL_CHARACTERS
            found = pattern.search(node)
            if found:
                yield Problem(where, f"control character {found.group()!r} is not allowed")
        elif isinstance(node, dict):
            children: list[tuple[Any, Any, Loc]] = []
            for key, item in node.items():
                if isinstance(key, str):
                    found = CONTROL_CHARACTERS.search(key)
                    if found:
                        message = f"control character {found.group()!r} is not allowed in a key"
                        yield Problem((*where, key), message)
                children.append((item, _child_type(kind, key), (*where, key)))
            stack.extend(reversed(children))
        elif isinstance(node, list | tuple):
            item_kind = _child_type(kind, 0)
            stack.extend((node[i], item_kind, (*where, i)) for i in range(len(node) - 1, -1, -1))


def _child_type(kind: Any, key: Any) -> Any:
    """The type of `kind`'s member `key` (a model field, a dict value, a list item), or None if unknown."""
    if kind is None or kind is LINE_BREAKS_ALLOWED:
        return None
    if isinstance(kind, type) and issubclass(kind, BaseModel):
        return _field_types(kind).get(key) if isinstance(key, str) else None
    try:
        return _item_type(kind)
    except TypeError:  # an unhashable annotation: compute it each time
        return _item_type.__wrapped__(kind)


@cache
def _item_type(kind: Any) -> Any:
    origin, args = get_origin(kind), get_args(kind)
    if origin is dict and len(args) == 2:
        return _resolved(args[1])
    if origin is list and len(args) == 1:
        return _resolved(args[0])
    return None


@cache
def _field_types(model: type[BaseModel]) -> dict[str, Any]:
    """Field name and alias -> resolved type, for the control-character walk."""
    found: dict[str, Any] = {}
    for name, info in model.model_fields.items():
        resolved = _resolved(info.annotation, info.metadata)
        found[name] = resolved
        if info.alias:
            found[info.alias] = resolved
    return found


def _resolved(annotation: Any, metadata: Sequence[Any] = ()) -> Any:
    """Strip `Annotated` and `| None`; `LINE_BREAKS_ALLOWED` for a `Multiline`; None for other unions."""
    if LINE_BREAKS_ALLOWED in metadata:
        return LINE_BREAKS_ALLOWED
    while True:
        if get_origin(annotation) is Annotated:
            if LINE_BREAKS_ALLOWED in annotation.__metadata__:
                return LINE_BREAKS_ALLOWED
            annotation = get_args(annotation)[0]
        elif get_origin(annotation) in (Union, UnionType):
            options = [arg for arg in get_args(annotation) if arg is not type(None)]
            if len(options) != 1:
                return None
            annotation = options[0]
        else:
            return annotation


def _error_detail(kind: str, message: str, loc: Loc, value: Any = None) -> InitErrorDetails:
    """A pydantic error carrying `message` verbatim (its type kept for the loader's wording)."""
    return InitErrorDetails(
        type=PydanticCustomError(kind, "{message}", {"message": message}), loc=tuple(loc), input=value
    )


class Problem(NamedTuple):
    """A broken cross-field rule: where (a field path relative to the model) and what is wrong."""

    loc: Loc
    message: str


class SpecModel(BaseModel):
    """Strict base model: unknown fields are errors; cross-field rules report the field they concern.

    Subclasses override `rules()` and yield `Problem(loc, message)`; every problem becomes a pydantic
    error at `loc` (relative to the model), so schema errors and rule errors come out together.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="wrap")
    @classmethod
    def _no_control_characters(cls, data: Any, handler: ModelWrapValidatorHandler[Any]) -> Any:
        """The outermost spec model checks every string of its input once (nested models skip it).

        This is the mechanism, not a field option: no field, key or nested dict can forget it. The
        problems are reported together with the model's other errors.
        """
        if _CHECKING.get():
            return handler(data)
        problems = list(control_character_problems(data, cls))
        token = _CHECKING.set(True)
        try:
            result = handler(data)
        except ValidationError as err:
            if not problems:
                raise
            details = [_error_detail(p_kind, msg, loc) for p_kind, msg, loc in _error_triples(err)]
        else:
            if not problems:
                return result
            details = []
        finally:
            _CHECKING.reset(token)
        flagged = {problem.loc for problem in problems}
        details = [d for d in details if tuple(d["loc"]) not in flagged]
        details += [_error_detail("control_character", p.message, p.loc) for p in problems]
        raise ValidationError.from_exception_data(cls.__name__, details)

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A model that defines `rules` gets the validator that runs them; the others skip the call.

        Pydantic collects a class's validators after this hook, so the validator is set here: most
        models have no rules, and a call per model adds up in a fleet-sized inventory.
        """
        super().__init_subclass__(**kwargs)
        if cls.rules is not SpecModel.rules:  # overridden here, in a parent or in a mixin
            cls._check_rules = model_validator(mode="after")(SpecModel._run_rules)  # type: ignore[attr-defined]

    def rules(self) -> Iterator[Problem]:
        """Yield the cross-field rule violations of this model (none by default)."""
        return iter(())

    def _run_rules(self) -> SpecModel:
        problems = list(self.rules())
        if problems:
            raise ValidationError.from_exception_data(
                type(self).__name__,
                [
                    InitErrorDetails(
                        type=PydanticCustomError("rule", "{message}", {"message": p.message}),
                        loc=p.loc,
                        input=None,
                    )
                    for p in problems
                ],
            )
        return self


SharedT = TypeVar("SharedT", bound=SpecModel)


def shared_default(model: type[SharedT]) -> Callable[[], SharedT]:
    """A `default_factory` handing out one instance of a frozen `model`, validated once.

    A large inventory leaves most optional sub-sections out: building a fresh default per cluster cost
    a tenth of its validation. Frozen makes the sharing safe: an assignment raises instead of leaking
    into every other cluster.
    """
    if not model.model_config.get("frozen"):
        raise TypeError(f"{model.__name__} must be frozen to share one default instance")
    instance = model()
    return lambda: instance


def _error_triples(err: ValidationError) -> Iterator[tuple[str, str, Loc]]:
    for error in err.errors(include_url=False):
        yield str(error["type"]), str(error["msg"]), tuple(error["loc"])


# ---------------------------------------------------------------- field types

_DURATION_RE = re.compile(r" *(\d+(?:\.\d+)?) *(ms|s|m|h|d)? *")
_UNIT_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}


def parse_duration_ms(value: Any) -> Any:
    """Turn '250ms', '5s', '1m', '2h' (or a bare integer of milliseconds) into integer milliseconds."""
    if isinstance(value, bool):
        return value  # let pydantic reject it
    if isinstance(value, int):
        return value
    if isinstance(value, str):
        match = _DURATION_RE.fullmatch(value)
        if not match:
            raise PydanticCustomError(
                "duration", "not a duration like 250ms, 5s, 1m, 2h: {value}", {"value": repr(value)}
            )
        number, unit = float(match.group(1)), match.group(2) or "ms"
        millis = number * _UNIT_MS[unit]
        if millis != int(millis):
            raise PydanticCustomError(
                "duration", "durations are whole milliseconds: {value}", {"value": repr(value)}
            )
        return int(millis)
    return value


DurationMs = Annotated[
    int,
    BeforeValidator(parse_duration_ms),
    Field(ge=0),
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d)?$"},
                {"type": "integer", "minimum": 0},
            ],
            "description": "duration: '250ms', '5s', '1m', '2h' or integer milliseconds",
        }
    ),
]
"""A duration in whole milliseconds; YAML may say '5s', '250ms', '1m'."""

Port = Annotated[int, Field(ge=1, le=65535)]
"""A TCP/UDP port number."""

Name = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$")]
"""A name usable in configs, file names and DNS labels (pydantic patterns: `$` is the end of the text)."""

IfName = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}$")]
"""A Linux interface name (at most 15 characters)."""

IFNAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,14}")
"""`IfName` for plain Python checks (use with `fullmatch`)."""


def check_ip_scope(value: Any) -> Any:
    """An IPv6 scope id (`fe80::1%eth0`) must be an interface name: Python accepts any text after '%'.

    Use as a `BeforeValidator` on every IP field (addresses and interfaces with a /prefix), or call
    `parse_ip` where an address is parsed by hand.
    """
    if isinstance(value, str) and "%" in value:
        scope = value.partition("%")[2].split("/", 1)[0]
        if not IFNAME_RE.fullmatch(scope):
            raise PydanticCustomError(
                "ip_scope",
                "the IPv6 scope id after '%' must be an interface name "
                "(letters, digits, '_', '.', '@', '-'; at most 15 characters)",
            )
    return value


@lru_cache(maxsize=1 << 16)
def parse_ip(text: str) -> IPv4Address | IPv6Address:
    """`ipaddress.ip_address` that also refuses a scope id that is not an interface name (ValueError).

    Cached (addresses are immutable; a large inventory parses each server address several times).
    """
    if _IPV4.fullmatch(text) is not None:
        return IPv4Address(int.from_bytes(inet_aton(text)))
    try:
        check_ip_scope(text)
    except PydanticCustomError as err:
        raise ValueError(err.message()) from None
    return ip_address(text)


AddressKey = tuple[int, int, str | None]
"""(family, integer, IPv6 scope id) of an address: equal exactly when the addresses' texts are."""


def address_key(address: IPv4Address | IPv6Address) -> AddressKey:
    """The `AddressKey` of an address, or of an interface's `.ip` (which Python gives without scope id).

    Fleet-wide rules compare thousands of addresses: formatting each as text cost more than the rules.
    """
    version = _VERSIONS.get(type(address)) or address.version  # a dict lookup, not a property call
    if version == 4:
        return 4, int(address), None
    if isinstance(address, IPv6Interface):
        return 6, int(address), None
    return version, int(address), getattr(address, "scope_id", None)


_VERSIONS: dict[type, int] = {IPv4Address: 4, IPv4Interface: 4, IPv6Address: 6, IPv6Interface: 6}


_OCTET = "(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
_IPV4 = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
"""A dotted quad exactly as `ipaddress` writes it (no leading zeros): read here, without its slow parser.

Only such a text goes to `inet_aton`, which alone would also take '10.1' or '0x0a.0.0.1'.
"""

_IPV4_WITH_PREFIX = re.compile(rf"({_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET})(?:/(3[0-2]|[12]?[0-9]))?")


def fast_ipv4_interface(value: Any) -> Any:
    """`IPv4Interface(value)` for a canonical `a.b.c.d[/n]` text, built from integers; any other value as is.

    A `BeforeValidator` for IPv4 interface fields: the same object `ipaddress` would build, several times
    faster; every other input (and so every error) goes to the field's own validator unchanged.
    """
    if isinstance(value, str):
        found = _IPV4_WITH_PREFIX.fullmatch(value)
        if found is not None:
            address, prefix = found.group(1, 2)
            return _ipv4_interface(
                int.from_bytes(inet_aton(address)), int(prefix) if prefix is not None else 32
            )
    return value


_NETMASKS = tuple((1 << 32) - (1 << (32 - prefix)) for prefix in range(33))
"""The IPv4 netmask of each prefix length, as an integer."""


@lru_cache(maxsize=1 << 14)
def _ipv4_network(network: int, prefix: int) -> IPv4Network:
    """One (immutable) network object per segment: the nodes and VIPs of a pair share their /24."""
    return IPv4Network((network, prefix))


def _interface_from_parts(address: int, prefix: int) -> IPv4Interface:
    """What `IPv4Interface.__init__` stores, with the segment's network shared instead of rebuilt.

    Building the network (two more address objects) was most of the cost of an interface field.
    """
    interface: Any = IPv4Interface.__new__(IPv4Interface)  # its private fields are set below
    interface._ip = address
    network = _ipv4_network(address & _NETMASKS[prefix], prefix)
    interface.network = network
    interface.netmask = network.netmask
    interface._prefixlen = prefix
    return interface


def _same_interface(first: IPv4Interface, second: IPv4Interface) -> bool:
    """Equal in value, text and every stored field."""
    shown = (first, str(first), vars(first))
    return type(first) is type(second) and shown == (second, str(second), vars(second))


_ipv4_interface: Callable[[int, int], IPv4Interface] = (
    _interface_from_parts
    if _same_interface(_interface_from_parts(0xC612030B, 24), IPv4Interface((0xC612030B, 24)))
    else lambda address, prefix: IPv4Interface((address, prefix))
)
"""Interfaces from integers: built from parts while this Python's `ipaddress` stores what it did when
written (checked once here; otherwise its own constructor)."""


IpAddress = Annotated[IPv4Address | IPv6Address, BeforeValidator(check_ip_scope)]
"""An IPv4 or IPv6 address; an IPv6 scope id must be an interface name (never arbitrary text)."""

TOKEN_FORBIDDEN = frozenset("#'\"\\{};$`")
"""Characters that end or change a bare word in some daemon's config: comments, quotes, blocks, variables."""


def check_token(value: str) -> str:
    """A `Token`: one bare word that every daemon reads back as written."""
    if not 1 <= len(value) <= MAX_STRING:
        raise PydanticCustomError(
            "token", "must be 1 to {limit} characters (got {size})", {"limit": MAX_STRING, "size": len(value)}
        )
    for char in value:
        if char.isspace() or CONTROL_CHARACTERS.fullmatch(char):
            raise PydanticCustomError(
                "token", "a single word: whitespace {char} is not allowed", {"char": repr(char)}
            )
        if char in TOKEN_FORBIDDEN:
            raise PydanticCustomError(
                "token",
                "a single word: {char} is not allowed (comment, quote, block or variable sign in a config)",
                {"char": repr(char)},
            )
    return value


def check_text(value: str) -> str:
    """A `Text`: free text without control characters, at most `MAX_STRING` characters."""
    if len(value) > MAX_STRING:
        raise PydanticCustomError(
            "text", "at most {limit} characters (got {size})", {"limit": MAX_STRING, "size": len(value)}
        )
    found = CONTROL_CHARACTERS.search(value)
    if found:
        raise PydanticCustomError(
            "text", "control character {char} is not allowed", {"char": repr(found.group())}
        )
    return value


Token = Annotated[
    str,
    AfterValidator(check_token),
    WithJsonSchema(
        {"type": "string", "minLength": 1, "maxLength": MAX_STRING, "pattern": "^[^\\s#'\"\\\\{};$`]+$"}
    ),
]
"""A value that reaches a config as one bare word (names, paths, hostnames, cert paths, cipher lists).

1 to 4096 characters; no whitespace or control characters and none of `# ' " \\ { } ; $` and backtick,
so it can be written unquoted into HAProxy, nginx, keepalived and systemd files.
"""


def check_multiline(value: str) -> str:
    """A `Multiline`: like `Text`, but line breaks and tabs are allowed (it becomes a file of its own)."""
    if len(value) > MAX_MULTILINE:
        raise PydanticCustomError(
            "text", "at most {limit} characters (got {size})", {"limit": MAX_MULTILINE, "size": len(value)}
        )
    return value


MAX_MULTILINE = 1_000_000
"""The longest `Multiline` text (error pages and other whole files)."""

Multiline = Annotated[str, LINE_BREAKS_ALLOWED, AfterValidator(check_multiline)]
"""Text that becomes a file of its own (an error page body), never part of a config line.

Line breaks and tabs are allowed; every other control character is refused like everywhere else.
"""

Text = Annotated[
    str,
    AfterValidator(check_text),
    WithJsonSchema({"type": "string", "maxLength": MAX_STRING}),
]
"""Free text (header values, regexes, log formats): at most 4096 characters, no control characters.

Renderers must quote it with the daemon's filter (`haproxy_quote`, `nginx_quote`, `keepalived_quote`,
`systemd_quote` from `hakit.render.quoting`); it is never written bare.
"""


def format_duration(millis: int) -> str:
    """Render milliseconds the way HAProxy and nginx both accept: '5s' when whole seconds, else '250ms'."""
    if millis % 60_000 == 0 and millis >= 60_000:
        return f"{millis // 60_000}m"
    if millis % 1000 == 0:
        return f"{millis // 1000}s"
    return f"{millis}ms"
