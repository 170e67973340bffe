"""Failure drills (make drills): load through Nginx while a nemesis injects a fault and heals it."""
