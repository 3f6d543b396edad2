"""Notebook front end of aether_nb: anywidget widgets (bundled from ``js/`` into ``static/``).

Importing this package is cheap on purpose: widgets live in submodules (``aether_nb.notebook.widget``) so that
``import aether_nb`` does not pull in ipywidgets or anywidget until a widget is shown.
"""
