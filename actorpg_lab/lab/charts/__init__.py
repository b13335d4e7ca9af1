"""Interactive charts (Plotly): builders in :mod:`.figures`, the notebook object in
:mod:`.widget`, the workbench's accessor ``wb.charts`` in :mod:`.kit`."""
