"""Any change to the routing configuration gives it a new token, so cached snapshots expire;
and the signal routing sends once new leads are saved.

``config_changed`` is connected in ``RoutingConfig.ready`` for every model the snapshot reads.
"""

from typing import Any

from django.dispatch import Signal

from agents.models import Agent, Roster, RosterMember, Shift, TimeOff
from leads.models import AutoResponse
from notifications.models import Preference, PushSubscription, TextOptOut
from routing.models import Brokerage, Rule, RuleCriterion, RuleWindow

#: The snapshot's models, with the people's reach (``selectors.notice_reach``) among them.
CONFIG_MODELS = (Agent, Roster, RosterMember, Shift, TimeOff, Rule, RuleCriterion, RuleWindow,
                 Brokerage, AutoResponse, Preference, PushSubscription, TextOptOut)

#: Sent by routing at arrival, inside its transaction, with ``leads=`` (new leads just saved),
#: ``config=`` (the snapshot that routed them) and ``now=``: the auto-responder listens.
leads_routed = Signal()


def bump_config_token() -> None:
    """Mark the routing configuration as changed (also call after queryset ``update()``)."""
    Brokerage.bump_config_token()


def config_changed(sender: type, **_: Any) -> None:
    """``post_save`` / ``post_delete`` receiver of the configuration's models."""
    bump_config_token()
