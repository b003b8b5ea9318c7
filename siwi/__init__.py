"""SiWi: a self-hosted AI chat assistant for a district administration."""

__version__ = "0.1.0"
