"""The flag-platform (LaunchDarkly) API connection: its REST client, the stored connection, the
webhook it wires, the names it resolves and the checks of the connection."""
