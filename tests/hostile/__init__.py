"""Hostile agents, one file per theme: each scenario is contained and never passes because of its trick."""
