"""Authoritative GeoDNS server: zone data and answer selection (pure), UDP/TCP server and admin API (shells)."""
