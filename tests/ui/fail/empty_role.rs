use secure_api::secure;

#[secure(role = "")]
async fn empty_string() {}

#[secure(any_role = [])]
async fn empty_list() {}

#[secure(any_role = ["editor", ""])]
async fn empty_string_in_list() {}

fn main() {}
