"""Jobs: the pure lifecycle (lifecycle.py) and the service that applies it with a store and a clock."""
