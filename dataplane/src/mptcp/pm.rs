//! (handshake side; being built)
