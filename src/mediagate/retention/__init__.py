"""Retention rules per account and the pass that applies them."""
