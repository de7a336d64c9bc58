//! Capture files: reading pcap and pcapng ([`read`]), writing pcap ([`write`]).
pub mod read;
pub mod write;
