"""The scheme's secrets: the operator's coupon signatures and the key provider (with the file
keystore) that hands terminals their diversified card keys."""
