//! Record → create-contact payload (pure). To be written.
