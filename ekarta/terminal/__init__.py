"""A terminal's side of the sync with the office, which the validator, the inspector's checking
app and the self-service kiosk build on: its directory (:mod:`~ekarta.terminal.config`), its
local store of lists, pending actions and journal (:mod:`~ekarta.terminal.store`) and one sync
with the office (:mod:`~ekarta.terminal.sync`).
"""
