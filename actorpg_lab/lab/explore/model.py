"""The explorer's read model: paged stream lists and stream pages, index walks only.

:class:`StreamBrowser` answers what :func:`Workbench.explore`'s widgets ask, each with a
bounded amount of work whatever the journal's size (no query reads the journal whole):

* **The stream list**, latest activity first: a walk down an index in position order
  (the events' ``(position, persistence_id, sequence_nr)`` index; with an event type the
  ``<events>_by_type`` index, with a tag the tags' ``(tag, position, ...)`` index) that
  reads at most ``scan_rows`` index rows per query and shows each stream once, at its
  newest event passing the filters (id prefix, type, tag, time window).  A page that is
  not full after one walk continues the walk, up to ``max_scan_rows`` rows; the page
  then says how far it looked (:attr:`StreamPage.note`) and *Next* goes on from there.
  Ordered by id instead (``order="id"``, id prefix only): a loose index scan of the
  primary key, one index descent per stream listed.
* **The columns of a page** (events, last event time, latest type, deletion mark,
  latest snapshot): a few primary-key probes per listed stream; the structure checks
  of :meth:`Workbench.check_streams` run for the listed streams only (``problems``).
* **A time window** has no index on ``timestamp`` to use: positions grow with time, so
  a binary search over the position index (about 20 probes) finds where the window
  starts and ends, with :data:`WINDOW_SLACK_MS` of slack for transactions that were open
  a while; the rows are then filtered on their exact time.
* **A stream's events**: one primary-key range read of ``page`` events, raw (the payload
  as stored, pretty-printed), so an undecodable event shows like any other.

One concept per module: the filter (:mod:`.stream_filter`), the list's pages
(:mod:`.pages`), a stream's events (:mod:`.events`), the SQL and its error policy
(:mod:`.statements`), the time-window search (:mod:`.window`) and the browser that pages
with them (:mod:`.browser`); this module names them together.
"""

from __future__ import annotations

from .browser import ProblemCheck, StreamBrowser, problems_of
from .events import EventRow, StreamEvents
from .pages import StreamPage, StreamRow
from .stream_filter import Order, StreamFilter
from .window import WINDOW_SLACK_MS

__all__ = ["WINDOW_SLACK_MS", "EventRow", "Order", "ProblemCheck", "StreamBrowser",
           "StreamEvents", "StreamFilter", "StreamPage", "StreamRow", "problems_of"]
