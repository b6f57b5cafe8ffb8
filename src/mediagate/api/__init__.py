"""Thin HTTP adapters over the services: parse, call, answer."""
