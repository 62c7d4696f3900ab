"""For trying Trainbot out: the demo and the throwaway Synapse homeserver it (and the e2e
tests) start.
"""
