"""Accounts, auth tokens and API keys; the one authenticator (credential -> Principal);
what each credential may do; console sessions; quotas."""
