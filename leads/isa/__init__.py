"""The ISA's home: their queue and stages (``queue``), hand-offs to agents and the hand-off
clock (``handoffs``), managers' figures (``figures``), pages (``views``, ``urls``) and the
hand-off targets' admin (``admin``). The tables are routing's (``routing.models``: every
rotation and routing decision is stored there)."""
