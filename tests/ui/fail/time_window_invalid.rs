use secure_api::secure;

#[secure(public, time_window(from = "8:00", to = "24:00"))]
async fn office() {}

#[secure(public, time_window(from = "09:00", to = "09:00"))]
async fn never() {}

#[secure(public, maintenance(from = "02:00"))]
async fn half() {}

fn main() {}
