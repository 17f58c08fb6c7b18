"""Turning raw mail into records: parsing, threading, promises."""
