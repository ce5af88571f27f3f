"""The transit card through the DESFire client: reading it, issuing it, loading a coupon and the
card's life cycle (activating, blocking, unblocking, changing the record), each a sequence of
commands that stays safe when the card is pulled away between any two."""
