//! `TestApp`: one method per operation, plus fixtures.

use std::sync::OnceLock;

use reqwest::Method;
use reqwest::header::HeaderMap;
use serde_json::{Value, json};

/// A response, read whole.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts a problem+json error with this status and errorCode, and returns it.
    #[track_caller]
    pub fn problem(&self, status: u16, code: &str) -> &Value {
        assert_eq!(self.status, status, "expected {status} {code}, got {}: {}", self.status, self.body);
        assert_eq!(self.body["errorCode"], code, "body: {}", self.body);
        assert_eq!(self.body["status"], status, "body: {}", self.body);
        assert_eq!(self.header("content-type"), Some("application/problem+json"));
        assert_eq!(self.body["type"], format!("https://clientele.dev/errors/{code}"));
        assert!(self.body["title"].is_string() && self.body["detail"].is_string(), "body: {}", self.body);
        assert!(self.header("x-request-id").is_some_and(|id| !id.is_empty()), "an x-request-id header");
        assert_eq!(self.body["requestId"].as_str(), self.header("x-request-id"), "requestId matches x-request-id");
        &self.body
    }

    /// The fields named by a validation problem's `errors`.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|a| a.iter().map(|e| e["field"].as_str().unwrap_or_default().to_owned()).collect())
            .unwrap_or_default()
    }

    #[track_caller]
    pub fn expect(&self, status: u16) -> &Value {
        assert_eq!(self.status, status, "unexpected status; body: {}", self.body);
        &self.body
    }
}

/// A partner made for one test, with an API key holding every permission.
#[derive(Debug, Clone)]
pub struct Partner {
    pub id: String,
    pub name: String,
    pub key: String,
}

pub struct TestApp {
    pub base: String,
    pub admin: String,
    http: reqwest::Client,
}

/// Every permission there is.
pub const ALL_PERMISSIONS: [&str; 20] = [
    "clients:view", "clients:edit", "clients:create", "clients:remove",
    "licenses:view", "licenses:edit", "licenses:create", "licenses:remove",
    "webhooks:view", "webhooks:edit", "webhooks:create", "webhooks:remove",
    "partners:view", "partners:edit", "partners:create", "partners:remove",
    "keys:view", "keys:edit", "keys:create", "keys:remove",
];

/// A name no other test uses.
pub fn unique(prefix: &str) -> String {
    format!("{prefix}-{}", uuid::Uuid::new_v4().simple())
}

/// An email no other test uses.
pub fn unique_email() -> String {
    format!("{}@example.com", unique("user"))
}

/// The local API Gateway emulator's (`cargo lambda watch`) own 500, which it answers
/// when no function instance answered the request (an instance it lost), never one
/// of ours: every 5xx of Clientele's is problem+json with an `errorCode`. The same
/// signature as `EMULATOR_500_*` in infra/schemathesis_hooks.py.
pub fn is_emulator_500(status: u16, content_type: Option<&str>, body: &[u8]) -> bool {
    let expected = json!({ "type": "https://httpstatuses.com/500", "status": 500, "title": "Internal Server Error" });
    status == 500
        && content_type.is_some_and(|t| t.starts_with("text/plain"))
        && serde_json::from_slice::<Value>(body).is_ok_and(|b| b == expected)
}

fn parse_body(bytes: &[u8]) -> Value {
    if bytes.is_empty() {
        Value::Null
    } else {
        serde_json::from_slice(bytes).unwrap_or_else(|_| Value::String(String::from_utf8_lossy(bytes).into()))
    }
}

/// An `Authorization: Basic` header value.
pub fn basic_auth(user: &str, pass: &str) -> String {
    use base64::Engine as _;
    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}")))
}

pub fn app() -> &'static TestApp {
    static APP: OnceLock<TestApp> = OnceLock::new();
    clientele::webhooks::use_aws_lc();
    APP.get_or_init(|| TestApp {
        base: std::env::var("CLIENTELE_URL").expect("CLIENTELE_URL: run the tests with `make test`"),
        admin: std::env::var("CLIENTELE_ADMIN_KEY").expect("CLIENTELE_ADMIN_KEY: run the tests with `make test`"),
        // Each #[tokio::test] has its own runtime: pooled connections must not outlive it.
        // A hung request fails its test (past the contract's 10 s, with room for the local
        // emulator's first start of a function) instead of hanging the suite.
        http: reqwest::Client::builder().pool_max_idle_per_host(0).timeout(std::time::Duration::from_secs(30)).build().expect("client"),
    })
}

impl TestApp {
    /// Any request: `headers` are sent as given, `body` as raw bytes.
    ///
    /// A read (GET) that the local API Gateway emulator itself failed, before or
    /// after any of our code ran (`is_emulator_500`), is sent once more, said on
    /// stderr; any other answer, and any write, is returned as it came.
    pub async fn raw(&self, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Resp {
        let mut tries = 0;
        loop {
            tries += 1;
            let mut req = self.http.request(method.clone(), format!("{}{path}", self.base));
            for (k, v) in headers {
                req = req.header(*k, *v);
            }
            if let Some(b) = &body {
                req = req.body(b.clone());
            }
            let res = req.send().await.expect("the API answers");
            let status = res.status().as_u16();
            let headers = res.headers().clone();
            let bytes = res.bytes().await.expect("body");
            let content_type = headers.get("content-type").and_then(|v| v.to_str().ok());
            if method == Method::GET && tries == 1 && is_emulator_500(status, content_type, &bytes) {
                eprintln!("the local emulator itself answered 500 to GET {path} (no function answered); sending it once more");
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                continue;
            }
            return Resp { status, headers, body: parse_body(&bytes) };
        }
    }

    /// A JSON request with an API key.
    pub async fn call(&self, method: Method, path: &str, key: &str, body: Option<Value>) -> Resp {
        self.call_with(method, path, key, body, &[]).await
    }

    pub async fn call_with(&self, method: Method, path: &str, key: &str, body: Option<Value>, extra: &[(&str, &str)]) -> Resp {
        let mut headers = vec![("x-api-key", key)];
        headers.extend_from_slice(extra);
        match body {
            Some(b) => {
                headers.push(("content-type", "application/json"));
                self.raw(method, path, &headers, Some(serde_json::to_vec(&b).unwrap())).await
            }
            None => self.raw(method, path, &headers, None).await,
        }
    }

    // Partners

    pub async fn create_partner(&self, key: &str, body: Value) -> Resp {
        self.call(Method::POST, "/v1/partners", key, Some(body)).await
    }
    pub async fn list_partners(&self, key: &str, query: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/partners{query}"), key, None).await
    }
    pub async fn get_partner(&self, key: &str, id: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/partners/{id}"), key, None).await
    }
    pub async fn suspend_partner(&self, key: &str, id: &str) -> Resp {
        self.call(Method::POST, &format!("/v1/partners/{id}/suspend"), key, None).await
    }
    pub async fn unsuspend_partner(&self, key: &str, id: &str) -> Resp {
        self.call(Method::POST, &format!("/v1/partners/{id}/unsuspend"), key, None).await
    }

    // API keys

    pub async fn create_api_key(&self, key: &str, body: Value) -> Resp {
        self.call(Method::POST, "/v1/api-keys", key, Some(body)).await
    }
    pub async fn list_api_keys(&self, key: &str, query: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/api-keys{query}"), key, None).await
    }
    pub async fn revoke_api_key(&self, key: &str, id: &str) -> Resp {
        self.call(Method::DELETE, &format!("/v1/api-keys/{id}"), key, None).await
    }

    // Clients

    pub async fn create_client(&self, key: &str, body: Value) -> Resp {
        self.call(Method::POST, "/v1/clients", key, Some(body)).await
    }
    pub async fn list_clients(&self, key: &str, query: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/clients{query}"), key, None).await
    }
    pub async fn get_client(&self, key: &str, id: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/clients/{id}"), key, None).await
    }
    pub async fn update_client(&self, key: &str, id: &str, body: Value) -> Resp {
        self.call(Method::PATCH, &format!("/v1/clients/{id}"), key, Some(body)).await
    }
    pub async fn replace_client(&self, key: &str, id: &str, body: Value) -> Resp {
        self.call(Method::PUT, &format!("/v1/clients/{id}"), key, Some(body)).await
    }
    pub async fn delete_client(&self, key: &str, id: &str) -> Resp {
        self.call(Method::DELETE, &format!("/v1/clients/{id}"), key, None).await
    }
    pub async fn find_client_by_username(&self, key: &str, username: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/clients/by-username/{username}"), key, None).await
    }
    pub async fn lookup_client(&self, key: &str, api_key: &str) -> Resp {
        self.call(Method::POST, "/v1/clients/lookup", key, Some(json!({ "apiKey": api_key }))).await
    }
    pub async fn search_clients(&self, key: &str, term: &str) -> Resp {
        let term: String = term.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect();
        self.call(Method::GET, &format!("/v1/clients/search?term={term}"), key, None).await
    }

    pub async fn offer_trial(&self, key: &str, id: &str, body: Value) -> Resp {
        self.call(Method::POST, &format!("/v1/clients/{id}/offer-trial"), key, Some(body)).await
    }
    pub async fn make_live(&self, key: &str, id: &str) -> Resp {
        self.call(Method::POST, &format!("/v1/clients/{id}/make-live"), key, None).await
    }
    pub async fn suspend_client(&self, key: &str, id: &str, body: Option<Value>) -> Resp {
        self.call(Method::POST, &format!("/v1/clients/{id}/suspend"), key, body).await
    }
    pub async fn unsuspend_client(&self, key: &str, id: &str) -> Resp {
        self.call(Method::POST, &format!("/v1/clients/{id}/unsuspend"), key, None).await
    }
    pub async fn set_permissions(&self, key: &str, id: &str, body: Value) -> Resp {
        self.call(Method::PUT, &format!("/v1/clients/{id}/permissions"), key, Some(body)).await
    }
    pub async fn set_quotas(&self, key: &str, id: &str, body: Value) -> Resp {
        self.call(Method::PUT, &format!("/v1/clients/{id}/quotas"), key, Some(body)).await
    }
    pub async fn record_usage(&self, key: &str, id: &str, body: Value) -> Resp {
        self.call(Method::POST, &format!("/v1/clients/{id}/usage"), key, Some(body)).await
    }
    pub async fn get_usage(&self, key: &str, id: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/clients/{id}/usage"), key, None).await
    }
    pub async fn rotate_client_key(&self, key: &str, id: &str) -> Resp {
        self.call(Method::POST, &format!("/v1/clients/{id}/rotate-api-key"), key, None).await
    }
    pub async fn bulk_delete(&self, key: &str, body: Value) -> Resp {
        self.call(Method::POST, "/v1/clients/bulk-delete", key, Some(body)).await
    }
    pub async fn create_teammate(&self, key: &str, body: Value) -> Resp {
        self.call(Method::POST, "/v1/teammates", key, Some(body)).await
    }
    pub async fn list_events(&self, key: &str, query: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/events{query}"), key, None).await
    }

    pub async fn create_product(&self, key: &str, body: Value) -> Resp {
        self.call(Method::POST, "/v1/products", key, Some(body)).await
    }
    pub async fn list_products(&self, key: &str) -> Resp {
        self.call(Method::GET, "/v1/products?limit=100", key, None).await
    }
    pub async fn create_license(&self, key: &str, body: Value) -> Resp {
        self.call(Method::POST, "/v1/licenses", key, Some(body)).await
    }
    pub async fn client_licenses(&self, key: &str, client_id: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/clients/{client_id}/licenses?limit=100"), key, None).await
    }
    pub async fn get_license(&self, key: &str, id: &str) -> Resp {
        self.call(Method::GET, &format!("/v1/licenses/{id}"), key, None).await
    }
    pub async fn revoke_license(&self, key: &str, id: &str) -> Resp {
        self.call(Method::POST, &format!("/v1/licenses/{id}/revoke"), key, None).await
    }
    /// Activation is public: the license key in the body is the credential.
    pub async fn activate(&self, license_key: &str, domain: &str) -> Resp {
        let body = json!({ "licenseKey": license_key, "domain": domain }).to_string().into_bytes();
        self.raw(Method::POST, "/v1/licenses/activate", &[("content-type", "application/json")], Some(body)).await
    }
    pub async fn deactivate(&self, license_key: &str, domain: &str) -> Resp {
        let body = json!({ "licenseKey": license_key, "domain": domain }).to_string().into_bytes();
        self.raw(Method::POST, "/v1/licenses/deactivate", &[("content-type", "application/json")], Some(body)).await
    }
    /// A new product (made by the admin).
    pub async fn product(&self) -> Value {
        let slug = unique("prod").to_lowercase();
        self.create_product(&self.admin, json!({ "name": slug, "slug": slug })).await.expect(201).clone()
    }

    /// Invokes a background function (e.g. `expire-trials`) the way its schedule would.
    pub async fn invoke(&self, function: &str) -> Value {
        let res = self
            .http
            .post(format!("{}/2015-03-31/functions/{function}/invocations", self.base))
            .json(&json!({}))
            // A job may run its whole budget (retry-webhooks: 40 s of claiming while other
            // tests' dead endpoints keep attempts due, then its last attempts' 10 s), longer
            // than the client's 30 s for a request.
            .timeout(std::time::Duration::from_secs(90))
            .send()
            .await
            .expect("the local Lambda API answers");
        assert!(res.status().is_success(), "{function} failed: {}", res.status());
        res.json().await.expect("a JSON report")
    }

    /// The SDK's settings for DynamoDB Local itself (and its stream).
    pub async fn sdk_config(&self) -> aws_config::SdkConfig {
        let url = std::env::var("CLIENTELE_DYNAMODB_URL").expect("CLIENTELE_DYNAMODB_URL: run the tests with `make test`");
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .endpoint_url(url)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("local", "local", None, None, "tests"))
            .load()
            .await
    }

    /// DynamoDB Local itself, for moving time forward in a test.
    pub async fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&self.sdk_config().await)
    }

    /// The table's record of one `Idempotency-Key`, if it has one (a test may Scan; the
    /// API never does).
    pub async fn idempotency_record(&self, idem: &str) -> Option<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
        use aws_sdk_dynamodb::types::AttributeValue;
        use sha2::{Digest, Sha256};
        let hash: String = Sha256::digest(idem.as_bytes()).iter().map(|b| format!("{b:02x}")).collect();
        let db = self.dynamodb().await;
        let mut start = None;
        loop {
            let page = db
                .scan()
                .table_name("clientele")
                .filter_expression("begins_with(pk, :idem) AND contains(pk, :hash)")
                .expression_attribute_values(":idem", AttributeValue::S("IDEM#".into()))
                .expression_attribute_values(":hash", AttributeValue::S(hash.clone()))
                .set_exclusive_start_key(start)
                .send()
                .await
                .expect("scan");
            if let Some(item) = page.items().first() {
                return Some(item.clone());
            }
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return None,
            }
        }
    }

    /// A POST with an `Idempotency-Key`.
    pub async fn post_idempotent(&self, key: &str, path: &str, body: Option<Value>, idem: &str) -> Resp {
        self.call_with(Method::POST, path, key, body, &[("idempotency-key", idem)]).await
    }

    // Fixtures

    /// A new root partner with a key holding every permission.
    pub async fn partner(&self) -> Partner {
        let created = self.create_partner(&self.admin, json!({ "name": unique("partner") })).await;
        created.expect(201);
        self.partner_key(&created.body, &self.admin).await
    }

    /// A new root partner of this `type` (partner, reseller, agency), with an all-permission key.
    pub async fn partner_of_type(&self, kind: &str) -> Partner {
        let created = self.create_partner(&self.admin, json!({ "name": unique(kind), "type": kind })).await;
        created.expect(201);
        self.partner_key(&created.body, &self.admin).await
    }

    /// A new sub-partner of `parent`, made by the parent, with its own all-permission key.
    pub async fn sub_partner(&self, parent: &Partner) -> Partner {
        let created = self.create_partner(&parent.key, json!({ "name": unique("sub") })).await;
        created.expect(201);
        self.partner_key(&created.body, &parent.key).await
    }

    async fn partner_key(&self, partner: &Value, creator: &str) -> Partner {
        let id = partner["id"].as_str().unwrap().to_owned();
        let key = self
            .create_api_key(creator, json!({ "partnerId": id, "permissions": ALL_PERMISSIONS }))
            .await;
        Partner {
            id,
            name: partner["name"].as_str().unwrap().to_owned(),
            key: key.expect(201)["key"].as_str().unwrap().to_owned(),
        }
    }

    /// A new client of `p` with a unique name, email and username.
    pub async fn client(&self, p: &Partner) -> Value {
        let body = json!({ "name": unique("client"), "email": unique_email(), "username": unique("u") });
        self.create_client(&p.key, body).await.expect(201).clone()
    }
}

/// An address no other test uses: its own /64 of the IPv6 documentation range
/// (the guessing limits count IPv6 sources by their /64).
pub fn unique_address() -> String {
    let id = uuid::Uuid::new_v4();
    let b = id.as_bytes();
    format!("2001:db8:{:x}:{:x}::1", u16::from_be_bytes([b[0], b[1]]), u16::from_be_bytes([b[2], b[3]]))
}

impl TestApp {
    /// A request handed to `function` as API Gateway hands it, from the source address
    /// `source_ip` (its `requestContext.http.sourceIp`): through the local Lambda API,
    /// since the local gateway (`cargo lambda watch`) puts 127.0.0.1 in every request's
    /// context. On AWS the gateway sets that address and nothing else can, which is what
    /// the guessing limits rely on; here the test plays the gateway for other addresses.
    pub async fn call_from_address(&self, source_ip: &str, function: &str, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Value>) -> Resp {
        let mut head = serde_json::Map::new();
        for (k, v) in headers {
            head.insert(k.to_ascii_lowercase(), json!(v));
        }
        if body.is_some() {
            head.insert("content-type".into(), json!("application/json"));
        }
        let event = json!({
            "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "", "headers": head,
            "isBase64Encoded": false, "body": body.map(|b| b.to_string()),
            "requestContext": {
                "accountId": "1", "apiId": "local", "domainName": "localhost", "domainPrefix": function, "requestId": uuid::Uuid::new_v4().to_string(),
                "routeKey": "$default", "stage": "$default", "time": "01/Jan/2026:00:00:00 +0000", "timeEpoch": 0,
                "http": { "method": method.as_str(), "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "tests" }
            }
        });
        let res = self
            .http
            .post(format!("{}/2015-03-31/functions/{function}/invocations", self.base))
            .json(&event)
            .send()
            .await
            .expect("the local Lambda API answers");
        assert!(res.status().is_success(), "{function} failed to run: {}", res.status());
        let out: Value = res.json().await.expect("an API Gateway response");
        let mut headers = HeaderMap::new();
        for (k, v) in out["headers"].as_object().into_iter().flatten() {
            if let (Ok(name), Some(Ok(value))) = (reqwest::header::HeaderName::from_bytes(k.as_bytes()), v.as_str().map(reqwest::header::HeaderValue::from_str)) {
                headers.insert(name, value);
            }
        }
        let text = out["body"].as_str().unwrap_or_default();
        let status = out["statusCode"].as_u64().expect("a status") as u16;
        Resp { status, headers, body: parse_body(text.as_bytes()) }
    }

    /// `POST /v1/auth/token` with Basic credentials, from `source_ip` ([`TestApp::call_from_address`]).
    pub async fn token_from(&self, source_ip: &str, username: &str, password: &str) -> Resp {
        let auth = basic_auth(username, password);
        self.call_from_address(source_ip, "issue-token", Method::POST, "/v1/auth/token", &[("authorization", &auth)], None).await
    }

    /// A new teammate of `p` with these permissions: (id, username, password).
    pub async fn teammate_with(&self, p: &Partner, permissions: &[&str]) -> (String, String, String) {
        let (username, password) = (unique("mate"), format!("pw-{}", unique("s")));
        let made = self.create_teammate(&p.key, json!({ "username": username, "password": password, "permissions": permissions })).await;
        (made.expect(201)["id"].as_str().unwrap().to_owned(), username, password)
    }

    /// A new API key of `p` with these permissions: the secret.
    pub async fn key_with(&self, p: &Partner, permissions: &[&str]) -> String {
        let made = self.create_api_key(&p.key, json!({ "permissions": permissions })).await;
        made.expect(201)["key"].as_str().unwrap().to_owned()
    }
}
