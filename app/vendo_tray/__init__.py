"""Vendo Tray: a tray companion that watches a Vendo app's events stream."""

__version__ = "0.1.0"
APP_NAME = "Vendo Tray"
APP_ID = "run.vendo.VendoTray"
#: ``vendo-tray KEY_READER_ARG``: the tray's own child that reads a key from the keyring
#: (core.secrets.serve_read); not a user command, so not in --help.
KEY_READER_ARG = "--read-key-from-keyring"
