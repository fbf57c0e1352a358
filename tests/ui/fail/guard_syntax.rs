use secure_api::secure;

// A built-in guard written as a flag, a plain key written as a guard, a duplicate guard
// and an argument without a value.
#[secure(ip_allow, role("admin"))]
async fn a() {}

#[secure(public, maintenance(from = "02:00", to = "03:00"), maintenance(from = "04:00", to = "05:00"))]
async fn b() {}

#[secure(public, time_window(from))]
async fn c() {}

fn main() {}
