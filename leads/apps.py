from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from leads.isa.handoffs import follow_activity
        from leads.signals import activity_recorded

        # Claims, passes, expiries and first contacts move an open hand-off on.
        activity_recorded.connect(follow_activity, dispatch_uid="leads.isa.handoffs")
