"""Values read from parsed YAML, each problem kept with its place in the file.

The generic part of reading a routing file: duplicate keys, mappings and lists, text, flags,
counts, choices, weekdays, times and phone numbers. ``read`` builds the file's sections on it.
"""

from __future__ import annotations

import re
from datetime import time
from typing import Any

import phonenumbers
import yaml
from django.conf import settings

from routing.config_file.schema import MAX_INT
from routing.rules_validation import window_is_empty
from routing.windows import DAY_NAMES

_TIME = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_FULL_DAY_NAMES = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class _Loader(yaml.SafeLoader):
    """The safe loader, noting duplicate keys (plain YAML silently keeps the last one)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.problems: list[str] = []

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue
            if key_node.value in seen:
                self.problems.append(
                    f"line {key_node.start_mark.line + 1}: duplicate key {key_node.value!r}"
                )
            seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def parse_yaml(text: str) -> tuple[Any, list[str]]:
    loader = _Loader(text)
    try:
        return loader.get_single_data(), loader.problems
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "YAML"
        context = f" ({exc.context})" if exc.context and exc.problem else ""
        return None, [f"{where}: {exc.problem or exc.context}{context}"]
    except yaml.YAMLError as exc:
        return None, [f"YAML: {exc}"]
    finally:
        loader.dispose()


def at(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


class _MISSING:
    pass


def _minutes_time(minutes: int) -> time:
    return time(minutes // 60, minutes % 60)


class ValueReader:
    """Walks the parsed YAML, keeping every error with its place instead of stopping."""

    def __init__(self) -> None:
        self.errors: list[str] = []

    def error(self, path: str, message: str) -> None:
        self.errors.append(f"{path}: {message}")

    # Shapes

    def mapping(self, value: Any, path: str, keys: tuple[str, ...]) -> dict | None:
        if not isinstance(value, dict):
            self.error(path, "must be a mapping (key: value)")
            return None
        for key in value:
            if key not in keys:
                self.error(at(path, key), f"unknown key (expected one of: {', '.join(keys)})")
        return value

    def items(self, obj: dict, key: str, path: str) -> list[tuple[str, Any]]:
        """The entries of a list section, each with its place (``rules[2]``)."""
        value = obj.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.error(at(path, key), "must be a list")
            return []
        return [(f"{at(path, key)}[{i}]", item) for i, item in enumerate(value)]

    # Scalars

    def text(self, obj: dict, key: str, path: str, *, max_length: int = 200,
             required: bool = True) -> str | None:
        where = at(path, key)
        value = obj.get(key)
        if value is None:
            if required:
                self.error(where, "missing")
            return None
        if not isinstance(value, str) or not value.strip():
            self.error(where, "must be a non-empty string")
            return None
        value = value.strip()
        if len(value) > max_length:
            self.error(where, f"too long (at most {max_length} characters)")
        return value

    def flag(self, obj: dict, key: str, path: str, default: bool) -> bool:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.error(at(path, key), "must be true or false")
            return default
        return value

    def count(self, obj: dict, key: str, path: str, *, default: int | None,
              maximum: int = MAX_INT, nullable: bool = False) -> int | None:
        value = obj.get(key, _MISSING)
        if value is _MISSING or (value is None and not nullable):
            return default
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
            self.error(at(path, key), "must be a whole number, 0 or more"
                       + (", or null" if nullable else ""))
            return default
        return value

    def choice(self, obj: dict, key: str, path: str, choices: tuple[str, ...] | frozenset[str],
               default: str) -> str:
        value = obj.get(key)
        if value is None:
            return default
        if not isinstance(value, str) or value.strip().lower() not in choices:
            options = sorted(choices) if isinstance(choices, frozenset) else choices
            self.error(at(path, key), f"must be one of: {', '.join(options)}")
            return default
        return value.strip().lower()

    def strings(self, value: Any, where: str, *, max_length: int = 200) -> tuple[str, ...]:
        """A list of strings (a single string counts as a list of one), duplicates dropped."""
        if value is None:
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list):
            self.error(where, "must be a list of strings")
            return ()
        found: list[str] = []
        for i, item in enumerate(value):
            if not isinstance(item, str):
                hint = ' (quote numbers: "02134")' if isinstance(item, int | float) else ""
                self.error(f"{where}[{i}]", f"must be a string{hint}")
            elif not item.strip():
                self.error(f"{where}[{i}]", "must not be empty")
            elif len(item.strip()) > max_length:
                self.error(f"{where}[{i}]", f"too long (at most {max_length} characters)")
            elif item.strip() not in found:
                found.append(item.strip())
        return tuple(found)

    def days(self, obj: dict, path: str) -> tuple[str, ...]:
        where = at(path, "days")
        value = obj.get("days")
        if value is None:
            self.error(where, "missing")
            return ()
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not value:
            self.error(where, f"must be a list of days ({', '.join(DAY_NAMES)})")
            return ()
        found: set[int] = set()
        for i, item in enumerate(value):
            name = item.strip().lower() if isinstance(item, str) else None
            if name in DAY_NAMES:
                found.add(DAY_NAMES.index(name))
            elif name in _FULL_DAY_NAMES:
                found.add(_FULL_DAY_NAMES.index(name))
            else:
                self.error(f"{where}[{i}]", f"unknown day {item!r} (use {', '.join(DAY_NAMES)})")
        return tuple(DAY_NAMES[d] for d in sorted(found))

    def clock(self, obj: dict, key: str, path: str) -> time | None:
        where = at(path, key)
        value = obj.get(key)
        if value is None:
            self.error(where, "missing")
            return None
        # YAML 1.1 reads an unquoted 8:00 as 480 (base 60); hours from 1, so never below 60.
        if isinstance(value, int) and not isinstance(value, bool) and 60 <= value < 24 * 60:
            return _minutes_time(value)
        match = _TIME.match(value.strip()) if isinstance(value, str) else None
        if not match:
            self.error(where, 'must be a time "HH:MM" (00:00 to 23:59)')
            return None
        return time(int(match[1]), int(match[2]))

    def window(self, obj: dict, path: str) -> tuple[tuple[str, ...], time | None, time | None]:
        days = self.days(obj, path)
        start, end = self.clock(obj, "start", path), self.clock(obj, "end", path)
        if window_is_empty(start, end):
            self.error(at(path, "end"), "must differ from start")
        return days, start, end

    def phone(self, value: Any, where: str) -> str | None:
        region = getattr(settings, "PHONENUMBER_DEFAULT_REGION", None) or "US"
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)  # unquoted +13125550101 reads as a number
        if not isinstance(value, str):
            self.error(where, "must be a phone number in quotes, or null")
            return None
        try:
            number = phonenumbers.parse(value, region)
        except phonenumbers.NumberParseException:
            number = None
        if number is None or not phonenumbers.is_valid_number(number):
            self.error(where, f"not a valid phone number: {value}")
            return None
        return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
