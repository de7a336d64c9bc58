//! The host-level stack: interfaces, ARP, IPv4 framing, connection demultiplexing,
//! listeners with backlogs, ISNs (RFC 6528) and TIME_WAIT handling.
