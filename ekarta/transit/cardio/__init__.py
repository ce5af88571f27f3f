"""The transit card through the DESFire client: reading it, issuing it and loading a coupon, each a
sequence of commands that stays safe when the card is pulled away between any two."""
