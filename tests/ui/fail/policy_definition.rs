use secure_api::policy;

policy!(BASE: role = "viewer");

// Policies stay inside their crate.
policy!(pub EXPORTED: role = "admin");

// A policy is keys, not other policies.
policy!(NESTED: policy = BASE, rate = "1/s");

// The name and its colon.
policy!(role = "admin");

fn main() {}
