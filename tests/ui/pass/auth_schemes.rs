use secure_api::{AuthSchemes, PolicySource, policy, secure};

policy!(SERVICE: auth = "api_key", role = "viewer");

#[secure(auth = "api_key", role = "viewer")]
async fn keys_only() {}

#[secure(auth = ["jwt", "api_key"])]
async fn either() {}

#[secure(policy = SERVICE)]
async fn from_policy() {}

#[secure(role = "viewer")]
async fn default_schemes() {}

fn main() {
    let _ = (keys_only, either, from_policy, default_schemes);
    assert_eq!(
        __secure_api_policy_keys_only::POLICY.auth_schemes(),
        Some(AuthSchemes::API_KEY)
    );
    assert_eq!(
        __secure_api_policy_either::POLICY.auth_schemes(),
        Some(AuthSchemes::JWT.and(AuthSchemes::API_KEY))
    );
    assert_eq!(
        __secure_api_policy_from_policy::POLICY.auth_schemes(),
        Some(AuthSchemes::API_KEY)
    );
    assert_eq!(__secure_api_policy_default_schemes::POLICY.auth_schemes(), None);
}
