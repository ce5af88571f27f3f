"""What reader drivers and the emulated card's front-ends share about the wire below DESFire."""
