//! (data side; being built)
