"""People who receive leads, the rosters they sit on and the shifts they work."""

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.validators import URLValidator
from django.db import models
from phonenumber_field.modelfields import PhoneNumberField
from simple_history.models import HistoricalRecords

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


class Agent(models.Model):
    """A person who can receive leads: an agent, an ISA, a lender or a manager."""

    class Role(models.TextChoices):
        AGENT = "agent", "Agent"
        ISA = "isa", "ISA"
        LENDER = "lender", "Lender"
        MANAGER = "manager", "Manager"

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="agent",
    )
    name = models.CharField(max_length=200)
    email = models.EmailField(unique=True)
    phone = PhoneNumberField(blank=True)
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.AGENT)
    is_active = models.BooleanField(
        default=True, help_text="Inactive agents (e.g. left the brokerage) never receive leads."
    )
    accepting_leads = models.BooleanField(
        default=True,
        help_text="Paused (vacation, busy): keeps their place in rotations but is skipped.",
    )
    max_open_leads = models.PositiveIntegerField(
        null=True, blank=True, help_text="Skipped while holding this many open leads."
    )
    max_leads_per_day = models.PositiveIntegerField(
        null=True, blank=True, help_text="Skipped after receiving this many leads today."
    )
    zip_codes = models.JSONField(default=list, blank=True, help_text="Territory zip codes.")
    specialties = models.JSONField(
        default=list, blank=True, help_text="Matched against lead tags (e.g. luxury)."
    )
    # Quiet hours, in the brokerage's time zone: non-urgent notices are not emailed, texted or
    # pushed then, but when they end (offers, reminders, escalations and new leads still are).
    quiet_hours_start = models.TimeField(
        null=True, blank=True, help_text="Quiet hours from (brokerage time), e.g. 21:00.")
    quiet_hours_end = models.TimeField(
        null=True, blank=True, help_text="Quiet hours until (brokerage time), e.g. 07:00.")
    away_calendar_url = models.CharField(
        "away calendar (ICS URL)", max_length=1000, blank=True,
        validators=[URLValidator(schemes=["http", "https", "webcal"])],
        help_text="An iCalendar feed (e.g. the phone's calendar): its out-of-office and "
                  "all-day busy events mark the agent away. Read every 15 minutes.")
    away_calendar_checked_at = models.DateTimeField(null=True, blank=True, editable=False)
    away_calendar_error = models.CharField(max_length=300, blank=True, editable=False,
                                           help_text="Why the last read failed.")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def save(self, *args, **kwargs) -> None:
        self.email = self.email.strip().lower()
        super().save(*args, **kwargs)

    def quiet_until(self, now: datetime, tz_name: str) -> datetime | None:
        """The end of the quiet hours ``now`` falls in, or None (see ``quiet_until``)."""
        return quiet_until(self.quiet_hours_start, self.quiet_hours_end, now, tz_name)


def quiet_until(start: time | None, end: time | None, now: datetime,
                tz_name: str) -> datetime | None:
    """The end of the quiet hours from ``start`` to ``end`` (they may span midnight) that
    ``now`` falls in, or None when it is not quiet now (or no quiet hours are set)."""
    if start is None or end is None or start == end:
        return None
    zone = ZoneInfo(tz_name)
    local = now.astimezone(zone)
    today = local.time()
    quiet = start <= today < end if start < end else (today >= start or today < end)
    if not quiet:
        return None
    day = local.date() if today < end else local.date() + timedelta(days=1)
    return datetime.combine(day, end, tzinfo=zone)


class Roster(models.Model):
    """An ordered list of people; each member gets *leads per round* turns in a rotation."""

    name = models.CharField(max_length=100, unique=True)
    agents = models.ManyToManyField(Agent, through="RosterMember", related_name="rosters")
    history = HistoricalRecords()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class RosterMember(models.Model):
    roster = models.ForeignKey(Roster, on_delete=models.CASCADE, related_name="members")
    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="memberships")
    position = models.PositiveIntegerField(default=0, db_index=True)
    leads_per_round = models.PositiveSmallIntegerField(
        default=1, help_text="Consecutive leads per turn; 0 = enrolled but receives none."
    )
    history = HistoricalRecords()

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["roster", "agent"], name="unique_roster_member"),
        ]

    def __str__(self) -> str:
        return f"{self.roster}: {self.agent.name}"  # the stored position is a sort key


class Shift(models.Model):
    """An on-duty window: on these weekdays from start to end, brokerage time.

    An end before the start runs past midnight; an end of 23:59 means the end of the day.
    """

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="shifts")
    days = models.JSONField(default=list, help_text='Weekdays, e.g. ["mon", "tue"].')
    start = models.TimeField()
    end = models.TimeField()
    history = HistoricalRecords()

    class Meta:
        ordering = ["agent__name", "start"]

    def __str__(self) -> str:
        return f"{self.agent.name}: {','.join(self.days)} {self.start:%H:%M}-{self.end:%H:%M}"


class Pause(models.Model):
    """A stretch when an agent did not accept leads (written by ``set_accepting_leads``), so
    the turns they missed meanwhile can say "paused 14:00-16:00"."""

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="pauses")
    started_at = models.DateTimeField()
    ended_at = models.DateTimeField(null=True, blank=True, help_text="Empty: still paused.")

    class Meta:
        ordering = ["agent", "-started_at"]
        indexes = [models.Index(fields=["agent", "started_at"], name="pause_agent_started")]

    def __str__(self) -> str:
        return f"{self.agent.name} paused {self.started_at:%Y-%m-%d %H:%M}"


class TimeOff(models.Model):
    """Time off set ahead (a vacation, an appointment, an away event of the agent's calendar):
    routing skips the agent from ``starts_at`` until ``ends_at`` and gives them leads again by
    itself afterwards, their place in every rotation kept."""

    class Source(models.TextChoices):
        AGENT = "agent", "The agent"
        MANAGER = "manager", "A manager"
        CALENDAR = "calendar", "The agent's away calendar"

    agent = models.ForeignKey(Agent, on_delete=models.CASCADE, related_name="time_off")
    starts_at = models.DateTimeField("from")
    ends_at = models.DateTimeField("until")
    note = models.CharField(max_length=200, blank=True, help_text="e.g. vacation, dentist.")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.AGENT)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text="Who set it (empty for the calendar's).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["agent", "starts_at"]
        verbose_name = "time off"
        verbose_name_plural = "time off"
        indexes = [models.Index(fields=["agent", "ends_at"], name="time_off_agent_ends")]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_at__gt=models.F("starts_at")),
                name="time_off_ends_after_start",
                violation_error_message="The time off must end after it starts."),
        ]

    def __str__(self) -> str:
        return (f"{self.agent.name} away {self.starts_at:%Y-%m-%d %H:%M}"
                f"-{self.ends_at:%Y-%m-%d %H:%M}")
