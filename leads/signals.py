"""Signals the leads app sends on purpose (never from ``post_save``).

``activity_recorded`` is sent by ``Activity.objects.record`` for every new timeline entry,
inside the transaction that wrote it, so that other parts of the product (the ISA's hand-offs)
follow claims, passes and first contacts without the code that wrote the entry knowing them.
``activities_recorded`` is its batch form, sent once by ``Activity.objects.record_many`` for
the entries it wrote together (the clock's burst of expiries), so that a receiver looks up what
it follows in one query, not one per entry.
"""

from django.dispatch import Signal

#: Sent with ``activity=`` (the saved ``Activity``) after each new timeline entry.
activity_recorded = Signal()

#: Sent with ``activities=`` (the saved entries, in order) after several entries written at once.
activities_recorded = Signal()
