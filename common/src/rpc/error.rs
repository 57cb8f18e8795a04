//! What a service answers instead of a body: [`ServiceError`], and its wire
//! form.
//!
//! On the wire an error response's body is either the error's text (what
//! every version understands) or an [`ErrorMsg`] carrying its
//! [`ErrorCode`]. A caller that can read the typed form sets
//! [`FLAG_TYPED_ERRORS`](super::frame::FLAG_TYPED_ERRORS) on its requests;
//! a service answers that caller in the typed form and sets the same flag
//! on the response. A peer that predates the flag ignores it on requests
//! and never sets it on responses, so old and new peers mix in both
//! directions and a text answer reads as [`ServiceError::Other`].

use bytes::Bytes;
use prost::Message;

/// Why a service refused or failed a request.
///
/// The variant is what a caller acts on (give up, treat as done, try again
/// later or elsewhere); the text is for people.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServiceError {
    /// The request body did not decode: a caller bug or an incompatible peer.
    #[error("bad request body: {0}")]
    BadRequest(String),
    /// The peer has no such method (it predates it).
    #[error("no method {0}")]
    NoMethod(u16),
    /// What the request names (a table, a partition, a checkpoint) does not
    /// exist there.
    #[error("{0}")]
    NotFound(String),
    /// What the request would create exists already.
    #[error("{0}")]
    AlreadyExists(String),
    /// The request is invalid whatever the state: asking again is pointless.
    #[error("{0}")]
    Invalid(String),
    /// Refused in the current state (not the primary, not enough live
    /// servers): the same request may succeed later or elsewhere. Not done.
    #[error("{0}")]
    Unavailable(String),
    /// The caller's deadline passed while the request ran; it may have had
    /// effects.
    #[error("deadline exceeded")]
    DeadlineExceeded,
    /// The service failed while handling the request (disk, a task); it may
    /// have had effects.
    #[error("{0}")]
    Internal(String),
    /// A meta that is not the leader of the meta group; the leader's
    /// address when it knows one (ask it instead), `None` during an election.
    #[error("not the meta leader{}", .0.as_deref().map(|l| format!("; the leader is {l}")).unwrap_or_else(|| "; no leader is known yet".to_string()))]
    NotLeader(Option<String>),
    /// An error from a peer that answered with text only (an older version)
    /// or with a code this build does not know.
    #[error("{0}")]
    Other(String),
}

impl ServiceError {
    /// An [`ServiceError::Internal`] from anything displayable.
    pub fn internal(e: impl std::fmt::Display) -> Self {
        ServiceError::Internal(e.to_string())
    }

    /// The body of an error response: typed when the caller reads that form.
    pub fn to_body(&self, typed: bool) -> Bytes {
        if !typed {
            return Bytes::from(self.to_string());
        }
        let (code, method) = match self {
            ServiceError::BadRequest(_) => (ErrorCode::BadRequest, 0),
            ServiceError::NoMethod(m) => (ErrorCode::NoMethod, *m),
            ServiceError::NotFound(_) => (ErrorCode::NotFound, 0),
            ServiceError::AlreadyExists(_) => (ErrorCode::AlreadyExists, 0),
            ServiceError::Invalid(_) => (ErrorCode::Invalid, 0),
            ServiceError::Unavailable(_) => (ErrorCode::Unavailable, 0),
            ServiceError::DeadlineExceeded => (ErrorCode::DeadlineExceeded, 0),
            ServiceError::Internal(_) => (ErrorCode::Internal, 0),
            ServiceError::Other(_) => (ErrorCode::Other, 0),
            ServiceError::NotLeader(_) => (ErrorCode::NotLeader, 0),
        };
        let message = match self {
            ServiceError::BadRequest(m)
            | ServiceError::NotFound(m)
            | ServiceError::AlreadyExists(m)
            | ServiceError::Invalid(m)
            | ServiceError::Unavailable(m)
            | ServiceError::Internal(m)
            | ServiceError::Other(m) => m.clone(),
            ServiceError::NoMethod(_) | ServiceError::DeadlineExceeded => String::new(),
            ServiceError::NotLeader(_) => self.to_string(),
        };
        let leader = match self {
            ServiceError::NotLeader(l) => l.clone().unwrap_or_default(),
            _ => String::new(),
        };
        Bytes::from(
            ErrorMsg {
                code: code.into(),
                message,
                method: method.into(),
                leader,
            }
            .encode_to_vec(),
        )
    }

    /// The error an error response's body holds; `typed` when the response
    /// says its body is an [`ErrorMsg`].
    pub fn from_body(body: &[u8], typed: bool) -> Self {
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        if !typed {
            return ServiceError::Other(text(body));
        }
        let Ok(m) = ErrorMsg::decode(body) else {
            return ServiceError::Other(format!("undecodable error response: {}", text(body)));
        };
        match ErrorCode::try_from(m.code) {
            Ok(ErrorCode::BadRequest) => ServiceError::BadRequest(m.message),
            Ok(ErrorCode::NoMethod) => match u16::try_from(m.method) {
                Ok(method) => ServiceError::NoMethod(method),
                Err(_) => ServiceError::Other(format!("no method {}", m.method)),
            },
            Ok(ErrorCode::NotFound) => ServiceError::NotFound(m.message),
            Ok(ErrorCode::AlreadyExists) => ServiceError::AlreadyExists(m.message),
            Ok(ErrorCode::Invalid) => ServiceError::Invalid(m.message),
            Ok(ErrorCode::Unavailable) => ServiceError::Unavailable(m.message),
            Ok(ErrorCode::DeadlineExceeded) => ServiceError::DeadlineExceeded,
            Ok(ErrorCode::Internal) => ServiceError::Internal(m.message),
            Ok(ErrorCode::NotLeader) => {
                ServiceError::NotLeader((!m.leader.is_empty()).then_some(m.leader))
            }
            Ok(ErrorCode::Other) | Err(_) => ServiceError::Other(m.message),
        }
    }
}

impl From<tokio::task::JoinError> for ServiceError {
    fn from(e: tokio::task::JoinError) -> Self {
        ServiceError::Internal(format!("handler task failed: {e}"))
    }
}

/// The kind of a [`ServiceError`] on the wire. Values are fixed forever; a
/// value this build does not know reads as [`ServiceError::Other`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, prost::Enumeration)]
#[repr(i32)]
pub enum ErrorCode {
    Other = 0,
    BadRequest = 1,
    NoMethod = 2,
    NotFound = 3,
    AlreadyExists = 4,
    Invalid = 5,
    Unavailable = 6,
    DeadlineExceeded = 7,
    Internal = 8,
    NotLeader = 9,
}

/// The typed body of an error response.
#[derive(Clone, PartialEq, Message)]
pub struct ErrorMsg {
    #[prost(enumeration = "ErrorCode", tag = "1")]
    pub code: i32,
    /// The text for people (empty when the code says it all).
    #[prost(string, tag = "2")]
    pub message: String,
    /// The method a [`ErrorCode::NoMethod`] names.
    #[prost(uint32, tag = "3")]
    pub method: u32,
    /// The leader a [`ErrorCode::NotLeader`] names (empty: none known).
    #[prost(string, tag = "4")]
    pub leader: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all() -> Vec<ServiceError> {
        vec![
            ServiceError::BadRequest("b".into()),
            ServiceError::NoMethod(9),
            ServiceError::NotFound("table 't'".into()),
            ServiceError::AlreadyExists("table 't' already exists".into()),
            ServiceError::Invalid("bad name".into()),
            ServiceError::Unavailable("not the primary".into()),
            ServiceError::DeadlineExceeded,
            ServiceError::Internal("disk".into()),
            ServiceError::Other("x".into()),
            ServiceError::NotLeader(Some("127.0.0.1:34602".into())),
            ServiceError::NotLeader(None),
        ]
    }

    #[test]
    fn typed_errors_round_trip() {
        for e in all() {
            assert_eq!(ServiceError::from_body(&e.to_body(true), true), e);
        }
    }

    #[test]
    fn text_errors_keep_their_words_for_older_peers() {
        for e in all() {
            let body = e.to_body(false);
            assert_eq!(&body[..], e.to_string().as_bytes());
            assert_eq!(
                ServiceError::from_body(&body, false),
                ServiceError::Other(e.to_string())
            );
        }
    }

    #[test]
    fn unknown_codes_and_garbage_read_as_other() {
        let newer = ErrorMsg {
            code: 99,
            message: "from the future".into(),
            method: 0,
            leader: String::new(),
        }
        .encode_to_vec();
        assert_eq!(
            ServiceError::from_body(&newer, true),
            ServiceError::Other("from the future".into())
        );
        assert!(matches!(
            ServiceError::from_body(b"\xff\xff\xff", true),
            ServiceError::Other(_)
        ));
    }
}
