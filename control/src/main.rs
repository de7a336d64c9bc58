//! `mpdk`: the mpdk console.
fn main() {}
