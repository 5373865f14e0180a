from django.apps import AppConfig
from django.db.models.signals import post_migrate


class AgentsConfig(AppConfig):
    name = "agents"
    verbose_name = "Agents, rosters and shifts"

    def ready(self) -> None:
        from agents import signals as token_signals  # noqa: F401  (tokens die with passwords)
        from agents.groups import ensure_groups

        # After every app's permissions exist (contenttypes/auth handlers run first).
        post_migrate.connect(ensure_groups, dispatch_uid="leadrouter-groups")
