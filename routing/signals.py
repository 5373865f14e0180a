"""Any change to the routing configuration gives it a new token, so cached snapshots expire.

``config_changed`` is connected in ``RoutingConfig.ready`` for every model the snapshot reads.
"""

from typing import Any

from agents.models import Agent, Roster, RosterMember, Shift
from routing.models import Brokerage, Rule, RuleCriterion, RuleWindow

CONFIG_MODELS = (Agent, Roster, RosterMember, Shift, Rule, RuleCriterion, RuleWindow, Brokerage)


def bump_config_token() -> None:
    """Mark the routing configuration as changed (also call after queryset ``update()``)."""
    Brokerage.bump_config_token()


def config_changed(sender: type, **_: Any) -> None:
    """``post_save`` / ``post_delete`` receiver of the configuration's models."""
    bump_config_token()
