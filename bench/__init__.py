"""Benchmarks of actorpg_lab against bare PostgreSQL, eventsourcing, pandas and ADBC."""
