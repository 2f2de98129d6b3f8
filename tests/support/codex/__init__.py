"""Codex (npm @openai/codex 0.171.0) for the harness tests: the Responses-API stand-in and the session rig."""
