"""Vendo Tray: a tray companion that watches a Vendo app's events stream."""

__version__ = "0.1.0"
APP_NAME = "Vendo Tray"
APP_ID = "run.vendo.VendoTray"
