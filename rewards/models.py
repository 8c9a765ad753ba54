"""Rewards: catalog, station stock, redemptions and donation campaigns (to come)."""
