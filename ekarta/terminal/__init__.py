"""A terminal's side of the sync with the office, which the validator, the inspector's checking
app and the self-service kiosk build on: its directory (:mod:`~ekarta.terminal.config`), its
local store of lists, pending actions and journal (:mod:`~ekarta.terminal.store`), one sync
with the office (:mod:`~ekarta.terminal.sync`), and the engines that turn a card or a card number
into an outcome: the validator's (:mod:`~ekarta.terminal.tap`), the inspector's and the kiosk's
(:mod:`~ekarta.terminal.inspect`), over what they share (:mod:`~ekarta.terminal.engine`).
"""
