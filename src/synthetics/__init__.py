"""Synthetic checks for the Victory36 MCP Orchestrator worker, as a pytest plugin and a CLI."""

__version__ = "0.1.0"
