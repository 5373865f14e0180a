"""The agent and manager REST APIs (the lead intake endpoint lives with intake, in
``leads.intake.api``); ``urls`` mounts them all under ``/api/``."""
