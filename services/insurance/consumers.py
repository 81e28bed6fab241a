"""Handlers for events insurance reacts to; each topic's handlers live beside their use cases."""

from __future__ import annotations

from kernel.consumer import Handlers

handlers = Handlers()

# Registered by import: the modules decorate functions with `handlers.on(...)`.
from services.insurance import obligation_consumers, registry_consumers  # noqa: E402, F401
