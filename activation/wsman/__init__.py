"""WS-Man for Intel AMT: typed request builders and defusedxml response parsers.

`envelope` renders requests (protocol.md §3.2), `response` parses answers, `call` pairs them;
the class modules (`setup`, `time_sync`, `network`, `features`, `certificates`, `remote_access`)
build the calls of the flows in §4.
"""
