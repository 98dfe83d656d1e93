//! The one error type of the server. Every failure becomes `{"error": code, "message": …,
//! "file": …}` with its HTTP status, and core errors are translated here, in one place.
use axum::Json;
use axum::extract::multipart::MultipartError;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

use asl_core::infer::InferError;
use asl_core::photo::PhotoError;
use asl_core::word::WordError;

/// The JSON body of every error.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    /// A stable, machine-readable code: `bad_multipart`, `missing_field`, `too_large`,
    /// `too_many_pixels`, `unsupported_type`, `unreadable_image`, `bad_zip`, `no_model`,
    /// `overloaded`, `timeout`, `unauthorized`, `forbidden`, `reload_failed`, `internal`, …
    pub error: String,
    /// What went wrong, for a person.
    pub message: String,
    /// The uploaded file the error is about, when there is one.
    pub file: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub file: Option<String>,
}

/// Put on error responses so the metrics layer can count errors by kind.
#[derive(Debug, Clone, Copy)]
pub struct ErrorKind(pub &'static str);

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            file: None,
        }
    }
    pub fn with_file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn too_large(message: impl Into<String>) -> Self {
        Self::new(StatusCode::PAYLOAD_TOO_LARGE, "too_large", message)
    }
    pub fn unsupported(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_type", message)
    }
    pub fn unreadable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "unreadable_image", message)
    }
    pub fn no_model() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_model",
            "no model is loaded yet; train one with `asl train` or check the server's --model",
        )
    }
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.code.to_string(),
            message: self.message.clone(),
            file: self.file.clone(),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.code, self.status.as_u16(), self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut res = (self.status, Json(self.body())).into_response();
        if self.status == StatusCode::SERVICE_UNAVAILABLE {
            // Overload, timeouts and a missing model are all worth retrying a bit later.
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
        }
        res.extensions_mut().insert(ErrorKind(self.code));
        res
    }
}

impl From<MultipartError> for ApiError {
    fn from(e: MultipartError) -> Self {
        // axum reports a body over the limit as 413; everything else is a malformed upload.
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::too_large(format!(
                "the upload is larger than the server accepts: {}",
                e.body_text()
            ))
        } else {
            ApiError::bad_request("bad_multipart", format!("malformed multipart body: {}", e.body_text()))
        }
    }
}

impl From<PhotoError> for ApiError {
    fn from(e: PhotoError) -> Self {
        let message = e.to_string();
        match e {
            PhotoError::NotAnImage | PhotoError::Unsupported(_) => ApiError::unsupported(message),
            PhotoError::Unreadable(_) | PhotoError::Truncated => ApiError::unreadable(message),
            PhotoError::TooLarge(_) => ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "too_many_pixels", message),
        }
    }
}

impl From<InferError> for ApiError {
    fn from(e: InferError) -> Self {
        match e {
            InferError::Image { file, reason } => ApiError::unreadable(reason).with_file(file),
            other => ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "inference_failed", other.to_string()),
        }
    }
}

impl From<WordError> for ApiError {
    fn from(e: WordError) -> Self {
        match e {
            WordError::NotZip(m) => ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "bad_zip",
                format!("not a readable zip archive: {m}"),
            ),
            WordError::TooLarge(m) => ApiError::too_large(format!("upload too large: {m}")),
            WordError::NoPhotos(skipped) => {
                let first = skipped.first().cloned();
                let detail = first
                    .as_ref()
                    .map(|s| format!(": {} ({})", s.file, s.reason))
                    .unwrap_or_default();
                let err = ApiError::unreadable(format!(
                    "no readable photos in the upload ({} skipped){detail}",
                    skipped.len()
                ));
                match first {
                    Some(s) => err.with_file(s.file),
                    None => err,
                }
            }
            WordError::Infer(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}
