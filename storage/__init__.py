"""Persistence: the SQLite database, its migrations, repositories and artifact folders."""
