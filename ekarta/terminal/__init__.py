"""The terminal apps that work with cards in the field: the validator, the inspector's checking app
and the self-service kiosk, together with their synchronisation of tariffs, blocklists and
transaction records.
"""
