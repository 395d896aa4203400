"""The command line (Typer): parse → call one service → render → map errors to exit codes.

Only this package imports typer; command modules import services inside their
functions so that `agentctl status` never pays for the LLM SDKs.
"""
