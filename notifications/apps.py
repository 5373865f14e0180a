from django.apps import AppConfig
from django.db.models.signals import post_delete, post_save


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        """An endpoint saved or deleted expires the cached subscriber lists everywhere."""
        from notifications.models import WebhookEndpoint
        from notifications.webhooks.subscribers import endpoints_changed

        post_save.connect(endpoints_changed, sender=WebhookEndpoint,
                          dispatch_uid="webhook-endpoints-changed")
        post_delete.connect(endpoints_changed, sender=WebhookEndpoint,
                            dispatch_uid="webhook-endpoints-gone")
