"""SIP (RFC 3261) for SIP spans: messages, SDP, digest auth, transports, transactions and dialogs."""
