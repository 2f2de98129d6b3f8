"""agentmail: agents as mail accounts, postcards as RFC 5322 messages in local Maildirs."""

__version__ = "0.1.0"
