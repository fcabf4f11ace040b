"""Fake programs the tests run as real subprocesses: coding agents, the GitHub CLI."""
