from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class RoutingConfig(AppConfig):
    name = "routing"
    verbose_name = "Routing"

    def ready(self) -> None:
        import config.lookups  # noqa: F401  (registers ``__in_ids``)
        from routing.signals import CONFIG_MODELS, config_changed

        # Any change to rules, rosters, agents or shifts expires the cached routing snapshot.
        for model in CONFIG_MODELS:
            for name, signal in (("saved", post_save), ("deleted", post_delete)):
                signal.connect(config_changed, sender=model,
                               dispatch_uid=f"routing-config-{name}-{model.__name__}")
