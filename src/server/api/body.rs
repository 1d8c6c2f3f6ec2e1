//! JSON bodies, query strings and path parameters whose rejections use the API's error
//! shape: malformed JSON is 400, a body of the wrong shape 422, a body over the limit 413, an
//! unreadable path parameter 400, a query string of the wrong shape (paging values out of
//! range included) 422 `invalid_query`.

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use serde::de::{self, DeserializeOwned, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::error::{ApiError, ErrorCode};

pub struct Body<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Body<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !json_content_type(req.headers()) {
            return Err(ApiError::of(ErrorCode::MissingContentType));
        }
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(|rej| {
                if rej.status() == StatusCode::PAYLOAD_TOO_LARGE {
                    too_large()
                } else {
                    ApiError::new(ErrorCode::UnreadableBody, rej.body_text())
                }
            })?;
        let axum::Json(v) = axum::Json::<T>::from_bytes(&bytes).map_err(json_rejection)?;
        // serde fills a struct from an array too, field by field in order: `["w", "k", {}]`
        // would start a case. Every body of the API is an object, as the document says.
        if bytes.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "the body must be a JSON object",
            ));
        }
        if has_nul(&bytes) {
            return Err(ApiError::new(
                ErrorCode::InvalidBody,
                "a string of the body contains the NUL character (\\u0000)",
            ));
        }
        Ok(Body(v))
    }
}

/// `application/json`, or any `application/…+json`, as axum's own JSON extractor accepts.
fn json_content_type(headers: &axum::http::HeaderMap) -> bool {
    let Some(value) = headers
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let essence = value
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// Whether a JSON text (already parsed: well formed) has a string with the NUL character,
/// which can only be written `\u0000`. PostgreSQL refuses it in text, SQLite keeps it: no
/// string of the API may hold it, on either backend.
fn has_nul(json: &[u8]) -> bool {
    let mut i = 0;
    while i < json.len() {
        if json[i] == b'\\' {
            if json[i + 1..].starts_with(b"u0000") {
                return true;
            }
            // The escaped character is skipped: `\\u0000` is a backslash, then text.
            i += 2;
        } else {
            i += 1;
        }
    }
    false
}

/// An unreadable query string or path: a NUL character (`%00`) in it is refused like the rest.
fn percent_nul(raw: &str) -> bool {
    raw.as_bytes().windows(3).any(|w| w == b"%00")
}

fn too_large() -> ApiError {
    ApiError::of(ErrorCode::BodyTooLarge)
}

fn json_rejection(rej: JsonRejection) -> ApiError {
    let text = rej.body_text();
    match rej {
        JsonRejection::JsonDataError(_) => ApiError::new(ErrorCode::InvalidBody, text),
        JsonRejection::JsonSyntaxError(_) => ApiError::new(ErrorCode::MalformedJson, text),
        JsonRejection::MissingJsonContentType(_) => ApiError::of(ErrorCode::MissingContentType),
        _ if rej.status() == StatusCode::PAYLOAD_TOO_LARGE => too_large(),
        _ => ApiError::new(ErrorCode::UnreadableBody, text),
    }
}

pub struct Params<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequestParts<S> for Params<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if percent_nul(parts.uri.query().unwrap_or("")) {
            return Err(ApiError::new(
                ErrorCode::InvalidQuery,
                "the query string contains the NUL character (%00)",
            ));
        }
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Params(q.0))
            .map_err(|e: QueryRejection| ApiError::new(ErrorCode::InvalidQuery, e.body_text()))
    }
}

/// Path parameters whose rejection (`/notices/abc/retry` where a number is expected) is a
/// 400 `invalid_path` in the API's error shape rather than axum's plain text.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        if percent_nul(parts.uri.path()) {
            return Err(ApiError::new(
                ErrorCode::InvalidPath,
                "the path contains the NUL character (%00)",
            ));
        }
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Path(p.0))
            .map_err(|e: PathRejection| ApiError::new(ErrorCode::InvalidPath, e.body_text()))
    }
}

/// The most rows one page may ask for (`limit`).
pub const MAX_LIMIT: u64 = 1000;
/// The furthest a page may start (`offset`): far past any real list, and bound as a
/// database integer without overflow.
pub const MAX_OFFSET: u64 = 100_000_000;

/// `limit` (default `default`, 1 to [`MAX_LIMIT`]) and `offset` (0 to [`MAX_OFFSET`]) of a
/// list; out of range is 422 `invalid_query`, never clamped in silence.
pub fn page(limit: Option<u64>, offset: Option<u64>, default: u64) -> Result<(u64, u64), ApiError> {
    let limit = limit.unwrap_or(default);
    let offset = offset.unwrap_or(0);
    let refuse = |message: String| ApiError::new(ErrorCode::InvalidQuery, message);
    if !(1..=MAX_LIMIT).contains(&limit) {
        return Err(refuse(format!(
            "limit must be 1 to {MAX_LIMIT}, not {limit}"
        )));
    }
    if offset > MAX_OFFSET {
        return Err(refuse(format!(
            "offset must be 0 to {MAX_OFFSET}, not {offset}"
        )));
    }
    Ok((limit, offset))
}

/// A request's `inputs`, refusing a key given twice at any depth, as a duplicate field of the
/// body is refused: serde_json would keep the last one in silence, and which value counts
/// would depend on the client's JSON writer.
pub fn unique_inputs<'de, D: Deserializer<'de>>(d: D) -> Result<engine::machine::Inputs, D::Error> {
    match d.deserialize_map(UniqueVisitor)? {
        serde_json::Value::Object(map) => Ok(map.into_iter().collect()),
        _ => Err(de::Error::custom("inputs must be an object")),
    }
}

/// An optional whole number that may be written `7` or `7.0`: JSON Schema's `integer` (what
/// the OpenAPI document says) counts `7.0` as one.
pub fn whole_number<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<serde_json::Number>::deserialize(d)? {
        None => Ok(None),
        Some(n) => n
            .as_i64()
            .or_else(|| {
                n.as_f64()
                    .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                    .map(|f| f as i64)
            })
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{n} is not a whole number"))),
    }
}

/// Builds a JSON value like serde_json's own, except that an object with a repeated key is
/// an error.
struct UniqueVisitor;

struct Unique(serde_json::Value);

impl<'de> Deserialize<'de> for Unique {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

impl<'de> Visitor<'de> for UniqueVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
        Ok(v.into())
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_none<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(items.into())
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(de::Error::custom(format!("duplicate key `{key}`")));
            }
            let Unique(value) = map.next_value()?;
            object.insert(key, value);
        }
        Ok(object.into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Req {
        #[serde(deserialize_with = "unique_inputs")]
        inputs: engine::machine::Inputs,
    }

    fn inputs(json: &str) -> Result<engine::machine::Inputs, String> {
        serde_json::from_str::<Req>(json)
            .map(|r| r.inputs)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn a_key_given_twice_in_inputs_is_refused_at_any_depth() {
        let e = inputs(r#"{"inputs": {"a": 1, "a": 2}}"#).unwrap_err();
        assert!(e.contains("duplicate key `a`"), "{e}");
        let e = inputs(r#"{"inputs": {"a": [{"b": 1, "b": 1}]}}"#).unwrap_err();
        assert!(e.contains("duplicate key `b`"), "{e}");
        let ok = inputs(r#"{"inputs": {"a": 1.5, "b": [true, null, "x", {"c": -2}]}}"#).unwrap();
        let plain: engine::machine::Inputs =
            serde_json::from_str(r#"{"a": 1.5, "b": [true, null, "x", {"c": -2}]}"#).unwrap();
        assert_eq!(ok, plain);
    }

    #[test]
    fn nul_is_found_only_where_a_string_holds_it() {
        assert!(has_nul(br#"{"a": "x\u0000y"}"#));
        assert!(has_nul(br#"{"\u0000": 1}"#));
        assert!(has_nul(br#"["\\\u0000"]"#));
        assert!(!has_nul(br#"{"a": "\\u0000"}"#));
        assert!(!has_nul(br#"{"a": "u0000", "b": "\u0001"}"#));
        assert!(percent_nul("workflow=a%00b"));
        assert!(!percent_nul("workflow=a%2500"));
    }

    #[test]
    fn paging_values_out_of_range_are_refused() {
        assert_eq!(page(None, None, 100).unwrap(), (100, 0));
        assert_eq!(
            page(Some(MAX_LIMIT), Some(MAX_OFFSET), 100).unwrap(),
            (MAX_LIMIT, MAX_OFFSET)
        );
        for (limit, offset) in [
            (Some(0), None),
            (Some(MAX_LIMIT + 1), None),
            (None, Some(MAX_OFFSET + 1)),
            (None, Some(u64::MAX)),
        ] {
            let e = page(limit, offset, 100).unwrap_err();
            assert_eq!(
                (e.status, e.body.code.as_str()),
                (StatusCode::UNPROCESSABLE_ENTITY, "invalid_query")
            );
        }
    }
}
