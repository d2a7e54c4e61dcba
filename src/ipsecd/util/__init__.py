"""Leaf helpers every layer may use; this package imports nothing else of ipsecd."""
