"""Audiences and scenes: definitions, compilation helpers and materialization."""
