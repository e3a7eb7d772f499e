"""Result types shared by every codec: a diagnostic, a decoded option, the pasted-input error."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Level = Literal["info", "warning", "error"]
LEVELS: tuple[Level, ...] = ("info", "warning", "error")


class HexInputError(ValueError):
    """Pasted text that holds no usable hex at all; the message is one line (the CLI prints it and exits 3)."""


@dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding about an encoded value. ``tag`` is stable (``o120.no_encoding_byte``); ``message`` is for admins."""

    tag: str
    level: Level
    message: str

    def to_json(self) -> dict[str, str]:
        return {"tag": self.tag, "level": self.level, "message": self.message}


@dataclass(frozen=True, slots=True)
class Decoded:
    """A decoded DHCP option. ``valid`` is False exactly when a diagnostic has level ``error``."""

    option: int
    valid: bool
    diagnostics: tuple[Diagnostic, ...]
    value: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.valid == any(d.level == "error" for d in self.diagnostics):
            raise ValueError("Decoded.valid must be False exactly when a diagnostic has level 'error'")

    @classmethod
    def make(
        cls, option: int, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...], value: dict[str, Any]
    ) -> Decoded:
        diags = tuple(diagnostics)
        return cls(option, not any(d.level == "error" for d in diags), diags, value)

    @property
    def tags(self) -> tuple[str, ...]:
        return tuple(d.tag for d in self.diagnostics)

    def has(self, tag: str) -> bool:
        return any(d.tag == tag for d in self.diagnostics)

    def to_json(self) -> dict[str, Any]:
        return {
            "option": self.option,
            "valid": self.valid,
            "diagnostics": [d.to_json() for d in self.diagnostics],
            "value": self.value,
        }


class Diags:
    """Collects diagnostics under one tag prefix (``o120`` gives ``o120.<name>``)."""

    __slots__ = ("items", "prefix")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.items: list[Diagnostic] = []

    def add(self, name: str, level: Level, message: str) -> None:
        self.items.append(Diagnostic(f"{self.prefix}.{name}", level, message))

    def error(self, name: str, message: str) -> None:
        self.add(name, "error", message)

    def warning(self, name: str, message: str) -> None:
        self.add(name, "warning", message)

    def info(self, name: str, message: str) -> None:
        self.add(name, "info", message)

    def extend(self, diagnostics: list[Diagnostic] | tuple[Diagnostic, ...]) -> None:
        self.items.extend(diagnostics)

    @property
    def errors(self) -> int:
        return sum(1 for d in self.items if d.level == "error")


def printable(data: bytes, *, escape_dot: bool = False) -> str:
    """Bytes as text: printable ASCII as is, a backslash doubled, everything else as ``\\xNN``."""
    out: list[str] = []
    for b in data:
        if b == 0x5C:
            out.append("\\\\")
        elif escape_dot and b == 0x2E:
            out.append("\\.")
        elif 0x20 <= b < 0x7F:
            out.append(chr(b))
        else:
            out.append(f"\\x{b:02x}")
    return "".join(out)


def hexu(data: bytes) -> str:
    """Upper-case hex without separators, as DHCPUtil prints it."""
    return data.hex().upper()


def is_text(data: bytes) -> bool:
    """Printable ASCII (tabs allowed), ignoring trailing NUL bytes that string-typed options often carry."""
    body = data.rstrip(b"\x00")
    return bool(body) and all(0x20 <= b < 0x7F or b == 0x09 for b in body)


def clip(text: str, limit: int = 80) -> str:
    """Shorten a string for a message."""
    return text if len(text) <= limit else text[: limit - 3] + "..."
