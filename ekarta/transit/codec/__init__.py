"""The card's files: the byte layouts of the card record, the coupon slots and the event log, a
whole card decoded at once, and the DESFire application, files and keys that hold them; and the
files a terminal gets from the back office: the coupon file and the hotlist."""
