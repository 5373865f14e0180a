"""Any change to the routing configuration gives it a new token, so cached snapshots expire."""

from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver

from agents.models import Agent, Roster, RosterMember, Shift
from routing.models import Brokerage, Rule, RuleCriterion, RuleWindow

CONFIG_MODELS = (Agent, Roster, RosterMember, Shift, Rule, RuleCriterion, RuleWindow, Brokerage)


def bump_config_token() -> None:
    """Mark the routing configuration as changed (also call after queryset ``update()``)."""
    Brokerage.bump_config_token()


@receiver(post_save)
@receiver(post_delete)
def _config_changed(sender, **kwargs) -> None:
    if sender in CONFIG_MODELS:
        bump_config_token()
