//! Fuzzes the JWT parsers of untrusted input: presented tokens (shape, header, payload) and JWKS
//! documents. Never panics; every refusal is a code; a parsed JWKS holds 1..=100 usable keys.
#![no_main]
use libfuzzer_sys::fuzz_target;
use palisade_tokens::verify::token_parse;
use palisade_tokens::{jwks_parse, Alg, TokenError};

fuzz_target!(|input: (&str, &[u8])| {
    let (token, jwks) = input;
    match token_parse(token, 8192) {
        Ok(u) => {
            assert!(token.len() <= 8192);
            assert_eq!(token.split('.').count(), 3);
            // A parsed alg is either one Palisade verifies with or refused later by name.
            let _ = Alg::parse(&u.alg);
        }
        Err(e) => assert!(matches!(
            e,
            TokenError::TooLarge
                | TokenError::Malformed
                | TokenError::UnknownIssuer
                | TokenError::MissingClaim(_)
        )),
    }
    match jwks_parse(jwks) {
        Ok(keys) => {
            assert!((1..=100).contains(&keys.len()));
            assert!(keys.iter().all(|k| Alg::ALL.iter().any(|a| k.fits(*a))
                || k.alg.is_some()));
        }
        Err(e) => assert!(matches!(e, TokenError::JwksInvalid)),
    }
});
