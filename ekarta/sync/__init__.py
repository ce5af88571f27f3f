"""The messages that terminals and the back office exchange (lists, journals, pending orders).

Both sides import this package; it imports neither of them.  To come.
"""
