"""celery-codemod: move fire-and-forget asyncio background jobs of web apps onto Celery."""

__version__ = "0.1.0"
