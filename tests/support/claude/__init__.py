"""Real Claude Code sessions for tests and benchmarks: a model stand-in on loopback (standin.py), a throw-away HOME
and environment (home.py), claude in tmux on a private socket (tmux.py), processes found by the store they run on
(procs.py), and the rig that puts them together with the agentmail plugin loaded (session.py)."""
