from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_delete, post_save


def check_web_push_keys(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """Keys that do not belong together turn phone alerts off: say so at startup."""
    from notifications.push import key_problem

    problem = key_problem()
    return [checks.Warning(f"Phone alerts are off: {problem}.", id="notifications.W001",
                           hint="python manage.py generate_vapid_keys")] if problem else []


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        """An endpoint saved or deleted expires the cached subscriber lists everywhere (the
        Follow Up Boss integration's endpoint goes with it); the web push keys are checked
        with the system checks."""
        checks.register(check_web_push_keys)
        from notifications.models import WebhookEndpoint
        from notifications.webhooks.subscribers import endpoints_changed

        post_save.connect(endpoints_changed, sender=WebhookEndpoint,
                          dispatch_uid="webhook-endpoints-changed")
        post_delete.connect(endpoints_changed, sender=WebhookEndpoint,
                            dispatch_uid="webhook-endpoints-gone")
        post_delete.connect(_integration_deleted, sender="notifications.FollowUpBossIntegration",
                            dispatch_uid="follow-up-boss-gone")


def _integration_deleted(instance, **_: object) -> None:
    """The Follow Up Boss integration removed: its endpoint goes too (with its pending
    pushes), so nothing more is written for it."""
    if instance.endpoint_id:
        from notifications.models import WebhookEndpoint

        WebhookEndpoint.objects.filter(pk=instance.endpoint_id).delete()
