"""Nightly LDIF sync: export rows mapped to an inbound LDIF and run through the Integration API."""
