use secure_api::secure;

#[secure(public, ip_allow(from = ["10.0.0.0/8", "10.0.0.0/33", "intranet", "::1/129"]))]
async fn internal() {}

#[secure(public, ip_allow(from = []))]
async fn nobody() {}

#[secure(public, ip_allow(from = "10.0.0.0/8"))]
async fn not_a_list() {}

#[secure(public, ip_allow(networks = ["10.0.0.0/8"]))]
async fn wrong_argument() {}

fn main() {}
