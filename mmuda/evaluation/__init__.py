"""Metrics and analysis registered into mmseg (filled in by the datasets milestone)."""
