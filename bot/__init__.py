"""Pelukis bot process: chats, settings, the durable job queue. Never imports torch."""
