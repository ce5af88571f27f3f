"""The transit application on the card: its layout of applications, files and keys, the codec of
the coupon storage (the fare products and their validity kept on the card) and the tariff rules
that decide what a coupon allows and what a validation writes back.
"""
