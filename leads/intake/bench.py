"""The benchmark's baseline for ``manage.py bench_api``: a bare DRF create of the same lead."""

from __future__ import annotations

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
