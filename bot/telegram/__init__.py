"""The Telegram adapter: draws screens as inline keyboards and sends reply plans through python-telegram-bot."""
