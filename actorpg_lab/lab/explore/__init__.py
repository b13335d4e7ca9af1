"""The event explorer (``wb.explore()``): paged stream lists, stream pages, the widget app."""
