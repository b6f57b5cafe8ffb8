"""mediagate: a self-hostable messaging media service that speaks Twilio's API."""

__version__ = "0.1.0"
