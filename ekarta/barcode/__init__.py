"""The barcode printed on the card with the card number: generating it for print, decoding it from
its text or image, and reading it from a barcode scanner's input.
"""
