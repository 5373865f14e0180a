"""For ``manage.py bench_api``: the baseline (a bare DRF create of the same lead), and the meter
of each request's SQL statements and CPU time."""

from __future__ import annotations

import time
from collections.abc import Callable

from django.db import connection
from django.http import HttpRequest, HttpResponse
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.utils import extend_schema
from phonenumber_field.phonenumber import to_python
from rest_framework import generics
from rest_framework.permissions import AllowAny
from rest_framework.renderers import JSONRenderer

from leads.intake.api import FirstRenderer
from leads.intake.serializers import BareLeadSerializer


@extend_schema(exclude=True)
class BareLeadCreateView(generics.CreateAPIView):
    """A bare DRF create (validate, save, no routing): mounted only when benchmarking."""

    serializer_class = BareLeadSerializer
    authentication_classes: list = []
    permission_classes = [AllowAny]
    renderer_classes = [JSONRenderer]
    content_negotiation_class = FirstRenderer

    def perform_create(self, serializer: BareLeadSerializer) -> None:
        email = (serializer.validated_data.get("email") or "").strip().lower()
        phone = to_python(serializer.validated_data.get("phone") or "")
        serializer.save(received_at=timezone.now(), email=email, email_normalized=email,
                        phone_normalized=phone.as_e164 if phone else "")


#: Response headers of ``BenchMeterMiddleware``: SQL statements run for the request, and the
#: worker's CPU time in microseconds spent inside Django for it.
QUERIES_HEADER = "X-Bench-Queries"
CPU_HEADER = "X-Bench-Cpu-Us"


class BenchMeterMiddleware:
    """Counts each request's SQL statements (transaction control included, as
    ``CaptureQueriesContext`` does) and its CPU time, in response headers: mounted first, and
    only with ``LEADROUTER_BENCH=1``, for ``manage.py bench_api``."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        connection.queries_log.clear()  # a bounded deque: counted from empty every time
        started = time.process_time()
        with CaptureQueriesContext(connection) as queries:
            response = self.get_response(request)
        response[QUERIES_HEADER] = str(len(queries))
        response[CPU_HEADER] = str(round((time.process_time() - started) * 1_000_000))
        return response
