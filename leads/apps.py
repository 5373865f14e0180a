from django.apps import AppConfig


class LeadsConfig(AppConfig):
    name = "leads"
    verbose_name = "Leads"

    def ready(self) -> None:
        from leads.autoresponder import answer_routed_leads
        from leads.isa.handoffs import follow_activities, follow_activity
        from leads.signals import activities_recorded, activity_recorded
        from routing.signals import leads_routed

        # Claims, passes, expiries and first contacts move an open hand-off on.
        activity_recorded.connect(follow_activity, dispatch_uid="leads.isa.handoffs")
        activities_recorded.connect(follow_activities, dispatch_uid="leads.isa.handoffs.many")
        # New leads a rule with an auto-response took get their answer.
        leads_routed.connect(answer_routed_leads, dispatch_uid="leads.autoresponder")
