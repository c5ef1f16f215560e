"""The governance service: ``create_app(settings)`` builds the FastAPI application (REST API under
``/api/v1``, health, readiness, Prometheus metrics); ``leitplanke serve`` runs it on Uvicorn."""

from leitplanke.service.apps import create_app

__all__ = ["create_app"]
