"""agentctl: run a fleet of AI agents in production from a plain folder."""

__version__ = "0.1.0"
