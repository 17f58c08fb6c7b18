"""Turning raw mail into records and findings: parsing, cleaning, promises, asks, nudges (interface: `base`)."""
