"""Handlers, one module per audience; bot.app registers them in one ordered list."""
