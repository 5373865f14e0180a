"""Agents as other systems name them: by e-mail or by full name, in any case and spacing.

The one lookup for a CRM export's agent column and a Follow Up Boss event's ``assignedTo``.
Pure: built from plain (name, email) pairs (the routing snapshot's agents or the agent rows),
so that it costs no query of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Protocol


class Named(Protocol):
    """An agent row or the routing snapshot's ``AgentInfo``."""

    @property
    def name(self) -> str: ...

    @property
    def email(self) -> str: ...


def _key(text: str) -> str:
    return " ".join((text or "").split()).lower()


@dataclass(frozen=True)
class Found:
    """The agent's e-mail, or "" with why not, in a sentence."""

    email: str
    problem: str = ""


@dataclass(frozen=True)
class AgentDirectory:
    """Every agent by e-mail and by name; a name two agents share names nobody."""

    emails: frozenset[str] = frozenset()
    names: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def of(cls, agents: Iterable[Named]) -> AgentDirectory:
        emails: set[str] = set()
        names: dict[str, list[str]] = {}
        for agent in agents:
            email = _key(agent.email)
            emails.add(email)
            names.setdefault(_key(agent.name), []).append(email)
        return cls(frozenset(emails), {k: tuple(v) for k, v in names.items() if k})

    def find(self, value: str) -> Found:
        """The agent this e-mail or name is."""
        key = _key(value)
        if not key:
            return Found("", "No agent given.")
        if "@" in key:
            return Found(key) if key in self.emails else Found("", f"No agent with email {key}.")
        matches = self.names.get(key, ())
        if len(matches) == 1:
            return Found(matches[0])
        if matches:
            return Found("", f"{len(matches)} agents are named {value.strip()}: give an email.")
        return Found("", f"No agent named {value.strip()}.")
