"""Front ends: each turns platform events into core calls and core replies into messages."""
