//! Payload checks mirroring what the API rejects (pure). To be written.
