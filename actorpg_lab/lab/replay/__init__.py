"""Room ``replay``: the step-by-step :class:`~actorpg_lab.lab.Replayer` (the model), its
ipywidgets view and state diffs.  Internal: the public names are in :mod:`actorpg_lab.lab`.
"""
