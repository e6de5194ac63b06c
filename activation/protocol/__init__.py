"""The rpc-go ⇄ RPS WebSocket protocol (protocol.md §1-§2), one module per section:
`messages` (§2.1-2.5 types), `envelope` (parsing a frame, §2.6.1), `command_line` (§2.3),
`payload` (§2.4, §2.6.2-2.6.3), `activation_checks` (§2.6.4-2.6.5), `status` (§2.7),
`server_messages` (§2.6-2.8, §3.1, §5.3), `javascript` (upstream's number reading).

Checks that need the database or Vault are not made here: the plan resolver
(`activation.plan.resolve`) makes them, with the texts and rules of `activation_checks`."""
