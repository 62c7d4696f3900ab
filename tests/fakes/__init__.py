"""Fake servers for tests: real clients talk to them over 127.0.0.1."""
