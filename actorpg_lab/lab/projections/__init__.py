"""Room ``projections``: what the projections of a journal are doing -- their statuses as
a frame, a lag chart, a live status widget, and the replayer opened at a failed event.
Internal: the workbench's verbs are ``wb.projections.*`` (and ``wb.projections_frame()``,
``wb.plot_projection_lag()``, ``wb.watch_projections()``).
"""
