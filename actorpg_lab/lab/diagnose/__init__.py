"""Room ``diagnose``: what is wrong with the stored history -- ``check_streams``,
``decode_check``, ``event_types_frame`` and ``compare_replays``.  Internal: the public
names are in :mod:`actorpg_lab.lab`.
"""
