//! Packet schedulers: which subflow sends next. The `Scheduler` trait, its `#[repr(C)]`
//! versioned context `SchedCtx`, and the native schedulers.
