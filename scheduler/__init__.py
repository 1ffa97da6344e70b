"""Reminders: planning who is owed which message when (pure), and dispatching the outbox (claim, send, mark).

Imports storage and conversations, never telegram: the bot layer hands dispatch a ``send`` function.
"""
