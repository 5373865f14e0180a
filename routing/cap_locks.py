"""The capped agents' locks: exclusive near a cap, shared far from it.

A router that may give a capped agent a lead locks the agent (an advisory lock,
``routing.services.serialize_on``) before counting their open leads and leads today, so that
a cap is never passed. Taken exclusive, that lock makes every router of the agent's rules
wait for the one before it to commit. Yet an agent 2 leads into a cap of 40 is no danger: a
router that gives at most one lead needs only that no router counts while others may still
add. So such routers take the lock **shared** when the agent is far from every cap, and
exclusive otherwise (and batches, which may give one agent many leads, always exclusive).

Why it holds: shared holders each add at most one lead and are at most ``SLOTS`` at once (each
also holds one of the agent's ``SLOTS`` slot locks, exclusive). A router joins as a shared
holder only if the count it reads under the lock leaves room for ``SLOTS`` more
(``room_for``), so the count plus the shared holders in flight never passes a cap; an
exclusive holder waits for every shared one, and counts exactly.

Which mode to ask for is chosen before counting, from the last count this process saw
(``note_loads``): an agent never counted here is locked exclusive. When the count read under
a shared lock leaves too little room (others added meanwhile), routing raises ``NearCap``
and the caller routes again from the start, this time exclusive.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from collections.abc import Set as AbstractSet
from datetime import date

from django.db import connection

from routing import engine
from routing.engine import Loads, RoutingConfig

#: How many routers may hold an agent's lock shared at once; two that draw the same slot take
#: turns.
SLOTS = 16

_last_seen: dict[int, tuple[date, int, int]] = {}  # agent -> (day, open leads, leads today)


class NearCap(Exception):
    """A capped agent locked shared turned out to be near a cap: route again, exclusive."""

    def __init__(self, agent_ids: Iterable[int]) -> None:
        self.agent_ids = sorted(agent_ids)
        super().__init__(f"Near a cap, to lock exclusive: agents {self.agent_ids}")


def lock_keys(agent_ids: Iterable[int], shared: AbstractSet[int]) -> tuple[list[str], set[str]]:
    """The advisory lock keys of these agents, and those of them to take shared: an agent
    locked shared also takes one of their slots (drawn at random), exclusive."""
    keys, in_shared = [], set()
    for agent_id in agent_ids:
        keys.append(agent_key(agent_id))
        if agent_id in shared:
            in_shared.add(agent_key(agent_id))
            keys.append(f"{agent_key(agent_id)}:slot:{random.randrange(SLOTS)}")
    return keys, in_shared


def agent_key(agent_id: int) -> str:
    return f"agent:{agent_id}"


def note_loads(agent_ids: Iterable[int], loads: Loads, day: date) -> None:
    """Remember the counts just read (under the agents' locks), for the next choice."""
    for agent_id in agent_ids:
        _last_seen[agent_id] = (day, loads.open_leads.get(agent_id, 0),
                                loads.leads_today.get(agent_id, 0))


def shared_agents(config: RoutingConfig, capped: Iterable[int], day: date,
                  least_loaded: Iterable[int] = ()) -> set[int]:
    """The capped agents a one-lead router may lock shared: far from every cap when last
    counted (on ``day``). Agents a least-loaded rule compares stay exclusive, so that two
    routers never both find the same agent least loaded."""
    if connection.vendor != "postgresql":
        return set()
    compared = set(least_loaded)
    shared = set()
    for agent_id in capped:
        seen, agent = _last_seen.get(agent_id), config.agents.get(agent_id)
        if seen is None or agent is None or agent_id in compared or seen[0] != day:
            continue
        loads = Loads({agent_id: seen[1]}, {agent_id: seen[2]})
        if engine.room_for(agent, loads, day, 2 * SLOTS):  # leaves room for others' adds
            shared.add(agent_id)
    return shared


def check_room(config: RoutingConfig, shared: Iterable[int], loads: Loads, day: date) -> None:
    """Under the shared locks, the counts must leave room for every possible shared holder;
    raise ``NearCap`` (the counts noted) otherwise."""
    near = [agent_id for agent_id in shared
            if not engine.room_for(config.agents[agent_id], loads, day, SLOTS)]
    if near:
        raise NearCap(near)


def forget() -> None:
    """Drop what this process saw (tests)."""
    _last_seen.clear()
