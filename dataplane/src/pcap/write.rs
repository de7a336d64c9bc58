//! Writing pcap captures. (being written)
