"""Training jobs: the request, the state machine, the ledger every state change goes through,
the service the faces call, and the backends that run jobs.
"""
