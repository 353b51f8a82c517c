"""Audit devices: every request and response recorded, secrets only as salted HMACs.

Fail closed: while any device is enabled, a request that no device can record does not run.
"""
