"""The device side: rpc-go protocol, WS-Man session and provisioning flows."""
