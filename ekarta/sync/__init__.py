"""What terminals and the back office share: the device roles (:mod:`~ekarta.sync.roles`) and
the signed envelope every sync response travels in (:mod:`~ekarta.sync.envelope`) and the typed
messages of the feeds and the journal (:mod:`~ekarta.sync.messages`).

Both sides import this package; it imports neither of them.
"""
