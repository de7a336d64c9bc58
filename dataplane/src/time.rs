//! Time in nanoseconds, passed into the sans-IO core. (being written)
