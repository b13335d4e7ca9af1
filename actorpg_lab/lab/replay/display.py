"""How a :class:`~actorpg_lab.lab.Replayer` shows itself in Jupyter: the display hooks,
delegated to its :class:`~.view.ReplayerView` (made on first use)."""

from __future__ import annotations

from typing import Any

from .protocol import ReplayModel

__all__ = ["ReplayDisplay"]


class ReplayDisplay:
    """Mixin of the replayer's display hooks (HTML, the widget, the static copy)."""

    _view: Any = None

    def _view_of(self) -> Any:
        if self._view is None:
            from .view import ReplayerView

            model: ReplayModel = self  # type: ignore[assignment]
            self._view = ReplayerView(model)
        return self._view

    def _repr_html_(self) -> str:
        html: str = self._view_of().html()
        return html

    def widget(self) -> Any:
        """An ipywidgets view (see :class:`~actorpg_lab.lab.replay.view.ReplayerView`):
        slider + play + back/step buttons and event/state/diff panes that follow
        :meth:`step`/:meth:`back`/:meth:`seek`."""
        return self._view_of().widget()

    def static_html(self) -> str:
        """A self-contained HTML view of the current position (kept in saved notebooks)."""
        html: str = self._view_of().static_html()
        return html

    def _ipython_display_(self) -> None:
        """A static HTML view, then the live widget.  The live widget hides the static
        copy; a saved notebook reopened without the widgets' state (JupyterLab, nbconvert,
        GitHub) shows the static copy — JupyterLab's "model not found" line is hidden."""
        from IPython.display import HTML, display

        view = self._view_of()
        display(HTML(view.static_html(sibling=True)))  # type: ignore[no-untyped-call]
        display(self.widget())  # type: ignore[no-untyped-call]
