use secure_api::secure;

#[secure(role = 5)]
async fn number_for_role() {}

#[secure(role = admin)]
async fn unquoted_role() {}

#[secure(any_role = "editor")]
async fn string_for_any_role() {}

#[secure(any_role = ["editor", 7])]
async fn number_in_any_role() {}

#[secure(rate = 100)]
async fn number_for_rate() {}

fn main() {}
