//! Deterministic network simulator. (being written)
