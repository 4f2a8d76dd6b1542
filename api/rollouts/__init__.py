"""Rollouts: one change to many targets, in waves."""
