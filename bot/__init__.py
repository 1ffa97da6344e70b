"""The Telegram side: python-telegram-bot Application, handlers, rendering, evidence files and the CLI."""
