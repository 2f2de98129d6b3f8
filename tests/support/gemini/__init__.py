"""Gemini CLI (npm @google/gemini-cli 0.61.0) for the harness tests: the Gemini-API stand-in and the session rig."""
