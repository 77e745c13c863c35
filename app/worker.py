"""The Celery entry point: ``celery -A app.worker worker`` and ``celery -A app.worker beat``."""

from app import create_app

celery_app = create_app(migrations=False).extensions["celery"]
