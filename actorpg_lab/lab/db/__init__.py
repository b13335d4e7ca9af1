"""Room ``db``: how the workbench talks to PostgreSQL.

Connections (the ADBC reader session, the stores' event-loop thread), the SQL files in
``sql/`` and how they are loaded and bound.  Internal: the public names are in
:mod:`actorpg_lab.lab`.
"""
