"""The back office: the system of record for cards, holders and coupons, and the HTTP API that
terminals sync with.  To come.
"""
