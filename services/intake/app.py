"""Intake's process: HTTP only; it emits through its outbox and consumes nothing."""

from pathlib import Path

from redress.service import Service
from services.intake.api import router

service = Service("intake", migrations=Path(__file__).parent / "migrations", router=router)
app = service.create_app()
