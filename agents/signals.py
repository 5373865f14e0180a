"""API tokens die with the password and with the login: a model signal on the user and the
agent, so that every path (the admin, the reset form, ``changepassword``, a service, the
routing file import) is covered by the same rule without each having to remember it.

- a new password (``set_password`` then ``save``) deletes the user's token: the phone app logs
  in again with the new password and gets a fresh one;
- a user or an agent saved inactive deletes the token (a deactivated person keeps no API
  access; sessions already end, Django refuses inactive users).
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db.models.signals import post_save
from django.dispatch import receiver
from rest_framework.authtoken.models import Token

from agents.models import Agent


def revoke_api_tokens(*, user_id: int | None) -> None:
    """Delete the login's API token (the next token login makes a new one)."""
    if user_id is not None:
        Token.objects.filter(user_id=user_id).delete()


@receiver(post_save, sender=get_user_model(), dispatch_uid="leadrouter-user-tokens")
def revoke_tokens_of_changed_user(sender: type, instance: Any, created: bool,
                                  **kwargs: Any) -> None:
    # AbstractBaseUser keeps the new raw password in ``_password`` until its save() finishes.
    if created:
        return
    if getattr(instance, "_password", None) is not None or not instance.is_active:
        revoke_api_tokens(user_id=instance.pk)


@receiver(post_save, sender=Agent, dispatch_uid="leadrouter-agent-tokens")
def revoke_tokens_of_inactive_agent(sender: type, instance: Agent, created: bool,
                                    **kwargs: Any) -> None:
    if not instance.is_active:
        revoke_api_tokens(user_id=instance.user_id)
