"""A throwaway Synapse homeserver for the demo and the end-to-end tests."""

from bot.dev.homeserver.synapse import SynapseServer, SynapseStartError, default_synapse_python

__all__ = ["SynapseServer", "SynapseStartError", "default_synapse_python"]
