//! A seeded simulated network on virtual time.
