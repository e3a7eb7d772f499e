"""JSON as Kea reads it (``//``, ``#`` and ``/* */`` comments allowed), keeping the line of every object."""

from __future__ import annotations

import json
from typing import Any

_MAX_DEPTH = 200


class JsonError(ValueError):
    def __init__(self, line: int, reason: str) -> None:
        super().__init__(f"line {line}: {reason}")
        self.line = line
        self.reason = reason


class JObj(dict[str, Any]):
    """A JSON object that knows the line it starts on."""

    line: int = 0


class JArr(list[Any]):
    line: int = 0


class _Parser:
    def __init__(self, text: str) -> None:
        self.s = text
        self.i = 0
        self.n = len(text)

    def line(self, pos: int | None = None) -> int:
        return self.s.count("\n", 0, self.i if pos is None else pos) + 1

    def fail(self, reason: str, pos: int | None = None) -> JsonError:
        return JsonError(self.line(pos), reason)

    def skip(self) -> None:
        s, n = self.s, self.n
        while self.i < n:
            c = s[self.i]
            if c in " \t\r\n\ufeff":
                self.i += 1
            elif c == "#" or s.startswith("//", self.i):
                end = s.find("\n", self.i)
                self.i = n if end < 0 else end
            elif s.startswith("/*", self.i):
                end = s.find("*/", self.i + 2)
                if end < 0:
                    raise self.fail("a /* comment is never closed")
                self.i = end + 2
            elif s.startswith("<?include", self.i):
                raise self.fail("<?include ...?> is not followed by lyncready: lint the included file on its own")
            else:
                return

    def value(self, depth: int = 0) -> Any:
        if depth > _MAX_DEPTH:
            raise self.fail("nested too deeply")
        self.skip()
        if self.i >= self.n:
            raise self.fail("the text ends where a value should be")
        c = self.s[self.i]
        if c == "{":
            return self.obj(depth)
        if c == "[":
            return self.arr(depth)
        if c == '"':
            return self.string()
        return self.scalar()

    def obj(self, depth: int) -> JObj:
        out = JObj()
        out.line = self.line()
        self.i += 1
        self.skip()
        if self.i < self.n and self.s[self.i] == "}":
            self.i += 1
            return out
        while True:
            self.skip()
            if self.i >= self.n or self.s[self.i] != '"':
                raise self.fail("expected a quoted key")
            key = self.string()
            self.skip()
            if self.i >= self.n or self.s[self.i] != ":":
                raise self.fail(f"expected ':' after the key {key!r}")
            self.i += 1
            out[key] = self.value(depth + 1)
            self.skip()
            if self.i < self.n and self.s[self.i] == ",":
                self.i += 1
                self.skip()
                if self.i < self.n and self.s[self.i] == "}":  # a trailing comma: newer Kea accepts it
                    self.i += 1
                    return out
                continue
            if self.i < self.n and self.s[self.i] == "}":
                self.i += 1
                return out
            raise self.fail("expected ',' or '}' in an object")

    def arr(self, depth: int) -> JArr:
        out = JArr()
        out.line = self.line()
        self.i += 1
        self.skip()
        if self.i < self.n and self.s[self.i] == "]":
            self.i += 1
            return out
        while True:
            out.append(self.value(depth + 1))
            self.skip()
            if self.i < self.n and self.s[self.i] == ",":
                self.i += 1
                self.skip()
                if self.i < self.n and self.s[self.i] == "]":
                    self.i += 1
                    return out
                continue
            if self.i < self.n and self.s[self.i] == "]":
                self.i += 1
                return out
            raise self.fail("expected ',' or ']' in a list")

    def string(self) -> str:
        start = self.i
        self.i += 1
        s = self.s
        while self.i < self.n:
            c = s[self.i]
            if c == "\\":
                self.i += 2
                continue
            if c == '"':
                self.i += 1
                try:
                    return str(json.loads(s[start : self.i]))
                except ValueError as exc:
                    raise self.fail(f"bad string: {exc}", start) from None
            if c == "\n":
                break
            self.i += 1
        raise self.fail("a string is not closed on its line", start)

    def scalar(self) -> Any:
        start = self.i
        while self.i < self.n and self.s[self.i] not in ",]}: \t\r\n/#":
            self.i += 1
        word = self.s[start : self.i]
        if word == "true":
            return True
        if word == "false":
            return False
        if word == "null":
            return None
        try:
            return json.loads(word)
        except ValueError:
            raise self.fail(f"unexpected {word[:20] or self.s[start : start + 1]!r}", start) from None


def parse_jsonc(text: str) -> Any:
    p = _Parser(text)
    value = p.value()
    p.skip()
    if p.i < p.n:
        raise p.fail("text after the end of the JSON value")
    return value
