//! A known-answer case and the refusals every scheme is put through.

use http::{HeaderMap, HeaderName, HeaderValue};
use palisade_webhooks::{verify, Inbound, Provider, Verified, VerifyError};

/// A request that verifies with `secret`.
#[derive(Clone)]
pub struct Case {
    pub provider: Provider,
    pub secret: Vec<u8>,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    /// The header carrying the signature, and the name its errors use.
    pub sig_header: &'static str,
    pub sig_role: &'static str,
}

pub fn header_map(pairs: &[(String, String)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_bytes(v.as_bytes()).unwrap(),
        );
    }
    h
}

impl Case {
    pub fn new(provider: Provider, secret: &str, headers: &[(&str, &str)], body: &[u8]) -> Self {
        Case {
            provider,
            secret: secret.as_bytes().to_vec(),
            url: "https://example.com/hook".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
            sig_header: "",
            sig_role: "",
        }
    }

    pub fn url(mut self, url: &str) -> Self {
        self.url = url.into();
        self
    }

    pub fn signature_header(mut self, name: &'static str, role: &'static str) -> Self {
        self.sig_header = name;
        self.sig_role = role;
        self
    }

    pub fn run_with(&self, secrets: &[&[u8]]) -> Result<Verified, VerifyError> {
        let headers = header_map(&self.headers);
        let req = Inbound {
            url: &self.url,
            headers: &headers,
            body: &self.body,
        };
        verify(&self.provider, secrets, &req)
    }

    pub fn run(&self) -> Result<Verified, VerifyError> {
        self.run_with(&[&self.secret])
    }

    /// The value of the signature header.
    pub fn sig(&self) -> String {
        self.get(self.sig_header)
            .expect("the case has its signature header")
    }

    pub fn get(&self, name: &str) -> Option<String> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.clone())
    }

    /// The same case with header `name` set to `value` (None removes it).
    pub fn with(&self, name: &str, value: Option<&str>) -> Self {
        let mut c = self.clone();
        c.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            c.headers.push((name.to_string(), v.to_string()));
        }
        c
    }

    pub fn with_sig(&self, value: &str) -> Self {
        self.with(self.sig_header, Some(value))
    }

    pub fn with_body(&self, body: &[u8]) -> Self {
        let mut c = self.clone();
        c.body = body.to_vec();
        c
    }
}

/// Asserts that `case` verifies and that every standard alteration is refused.
pub fn accepted_and_refusals(case: &Case) -> Verified {
    let ok = case.run().expect("the known-answer case verifies");
    let role = case.sig_role;
    // Tampered body: one byte flipped, one byte added.
    let mut flipped = case.body.clone();
    if let Some(b) = flipped.last_mut() {
        *b ^= 0x01;
    }
    assert_eq!(
        case.with_body(&flipped).run(),
        Err(VerifyError::BadSignature)
    );
    let mut longer = case.body.clone();
    longer.push(b' ');
    assert_eq!(
        case.with_body(&longer).run(),
        Err(VerifyError::BadSignature)
    );
    // Wrong secret, no secret, rotation (the right secret second).
    assert_eq!(
        case.run_with(&[b"not-the-secret"]),
        Err(VerifyError::BadSignature)
    );
    assert_eq!(case.run_with(&[]), Err(VerifyError::BadSignature));
    assert_eq!(
        case.run_with(&[b"an-old-secret", &case.secret]).as_ref(),
        Ok(&ok)
    );
    // Missing, empty, duplicated signature header.
    assert_eq!(
        case.with(case.sig_header, None).run(),
        Err(VerifyError::MissingHeader(role))
    );
    assert_eq!(
        case.with_sig("").run(),
        Err(VerifyError::MalformedHeader(role))
    );
    let mut dup = case.clone();
    dup.headers.push((case.sig_header.to_string(), case.sig()));
    assert_eq!(dup.run(), Err(VerifyError::DuplicateHeader(role)));
    // Truncated signature: refused (malformed or not matching, by the encoding).
    let sig = case.sig();
    for cut in [1, 2, sig.len() / 2] {
        let r = case.with_sig(&sig[..sig.len() - cut]).run();
        assert!(r.is_err(), "a signature cut by {cut} must be refused");
    }
    ok
}
