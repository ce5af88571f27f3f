"""Values and rules of the transit application: what a card holds, as frozen dataclasses that
check their own invariants, and the pure functions of the tariff that judge them.  Nothing here
knows bytes, keys or cards: the layers above (codec, security, card I/O) build on it."""
