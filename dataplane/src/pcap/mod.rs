//! Capture files: reading pcap and pcapng ([`read`](mod@read)), writing pcap ([`write`](mod@write)).
pub mod read;
pub mod write;
