"""Database: engine, models and Alembic migrations."""
