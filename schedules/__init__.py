"""Spine Coach."""
