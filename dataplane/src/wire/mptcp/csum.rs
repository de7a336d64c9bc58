//! DSS checksum (RFC 8684 §3.3.1) over a mapping that spans many segments. (being written)
