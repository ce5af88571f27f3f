"""What terminals and the back office share: the device roles (:mod:`~ekarta.sync.roles`) and
the signed envelope every sync response travels in (:mod:`~ekarta.sync.envelope`).  The lists,
journals and pending orders themselves are to come.

Both sides import this package; it imports neither of them.
"""
