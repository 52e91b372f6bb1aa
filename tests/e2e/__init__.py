"""End-to-end tests: the generated code on a real Redis and a real Celery worker."""
