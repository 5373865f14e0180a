"""Signals the leads app sends on purpose (never from ``post_save``).

``activity_recorded`` is sent by ``Activity.objects.record`` for every new timeline entry,
inside the transaction that wrote it, so that other parts of the product (the ISA's hand-offs)
follow claims, passes and first contacts without the code that wrote the entry knowing them.
"""

from django.dispatch import Signal

#: Sent with ``activity=`` (the saved ``Activity``) after each new timeline entry.
activity_recorded = Signal()
