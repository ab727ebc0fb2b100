"""Signaling stacks: analog loop start, ISDN PRI, China No.1 (MFC/R2)."""
