"""Room ``history``: write and snapshot history -- the in-process recorders, the history
the stores logged (conflicts, pruning), recovery cost, what-if policies and their charts.
Internal: the public names are in :mod:`actorpg_lab.lab`.
"""
