//! Reading pcap and pcapng captures. (being written)
