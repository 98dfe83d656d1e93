//! Reading an upload: the multipart fields, and the checks and decoding of its photos.
//! The decoding functions block (call them from `spawn_blocking`).
use std::sync::atomic::{AtomicBool, Ordering};

use asl_core::decode::Skipped;
use asl_core::monitor::ImageFeatures;
use asl_core::photo;
use asl_core::prep::PreparedPhoto;
use asl_core::word::Photo;
use axum::extract::Multipart;
use axum::http::StatusCode;
use rayon::prelude::*;

use crate::config::ServerConfig;
use crate::error::{ApiError, ApiResult};

/// What a prediction request carried.
pub enum Upload {
    /// `image` fields, in the order sent.
    Images(Vec<Photo>),
    /// One `zipfile` field.
    Zip { name: String, bytes: Vec<u8> },
}

/// Reads the multipart fields. Unknown fields are ignored (forms often carry extras).
pub async fn read_multipart(mut form: Multipart, config: &ServerConfig) -> ApiResult<Upload> {
    let mut images = Vec::new();
    let mut zip = None;
    while let Some(field) = form.next_field().await? {
        let kind = field.name().unwrap_or_default().to_string();
        match kind.as_str() {
            "image" => {
                if images.len() >= config.max_images {
                    return Err(ApiError::too_large(format!(
                        "more than {} image fields in one request",
                        config.max_images
                    )));
                }
                let name = field
                    .file_name()
                    .filter(|n| !n.is_empty())
                    .map(str::to_string)
                    .unwrap_or_else(|| format!("image{}", images.len() + 1));
                let bytes = field.bytes().await?.to_vec();
                images.push(Photo { name, bytes });
            }
            "zipfile" => {
                if zip.is_some() {
                    return Err(ApiError::bad_request("bad_multipart", "send one zipfile per request"));
                }
                let name = field
                    .file_name()
                    .filter(|n| !n.is_empty())
                    .unwrap_or("upload.zip")
                    .to_string();
                zip = Some((name, field.bytes().await?.to_vec()));
            }
            _ => {}
        }
    }
    match (images.is_empty(), zip) {
        (true, None) => Err(ApiError::bad_request(
            "missing_field",
            "send a photo in an `image` field (repeat it for several photos) or a zip of photos in a `zipfile` field",
        )),
        (false, Some(_)) => Err(ApiError::bad_request(
            "bad_multipart",
            "send either `image` fields or one `zipfile`, not both",
        )),
        (true, Some((name, bytes))) => Ok(Upload::Zip { name, bytes }),
        (false, None) => Ok(Upload::Images(images)),
    }
}

/// Zip archives start with a local file header (or, when empty, the end of central directory).
pub fn looks_like_zip(bytes: &[u8]) -> bool {
    bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06")
}

/// Checks one photo from its header against the server's decoding budget: what decoding it
/// will cost, before anything is allocated. The type comes from the bytes, not the declared
/// content type.
pub fn plan_photo(photo: &Photo, size: u32, config: &ServerConfig) -> ApiResult<photo::Plan> {
    photo::plan(&photo.bytes, &config.decode_budget(), photo::needed_side(size))
        .map_err(|e| ApiError::from(e).with_file(photo.name.clone()))
}

/// Checks one photo and decodes it for the model: its input size, and the hand view when
/// `with_view`.
pub fn decode_photo(
    photo: &Photo,
    size: u32,
    with_view: bool,
    config: &ServerConfig,
) -> ApiResult<(PreparedPhoto, ImageFeatures)> {
    let plan = plan_photo(photo, size, config)?;
    decode_planned(photo, &plan, size, with_view)
}

fn decode_planned(
    photo: &Photo,
    plan: &photo::Plan,
    size: u32,
    with_view: bool,
) -> ApiResult<(PreparedPhoto, ImageFeatures)> {
    asl_core::prep::decode_planned_prepared(plan, &photo.bytes, size, with_view)
        .map_err(|e| ApiError::from(e).with_file(photo.name.clone()))
}

/// Decodes many photos in parallel. Every header is checked first, and the photos are
/// admitted in order while their decoded pixels fit the request's budget
/// (`max_request_pixels`). The unreadable or refused ones are reported in `skipped` with the
/// reason, never dropped silently.
/// Stops early (the remaining photos are skipped) once `cancelled` is set: the request was
/// abandoned (timeout, client gone) and nobody will read the answer.
pub fn decode_photos(
    photos: &[Photo],
    size: u32,
    with_view: bool,
    config: &ServerConfig,
    cancelled: &AtomicBool,
) -> (Vec<(String, PreparedPhoto, ImageFeatures)>, Vec<Skipped>) {
    let plans: Vec<ApiResult<photo::Plan>> = photos.par_iter().map(|p| plan_photo(p, size, config)).collect();
    let mut left = config.max_request_pixels;
    let admitted: Vec<ApiResult<photo::Plan>> = plans
        .into_iter()
        .map(|plan| {
            let plan = plan?;
            left = left.checked_sub(plan.decoded_pixels()).ok_or_else(|| {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "too_many_pixels",
                    format!(
                        "over the request's budget of {} decoded pixels",
                        config.max_request_pixels
                    ),
                )
            })?;
            Ok(plan)
        })
        .collect();
    let decoded: Vec<ApiResult<(PreparedPhoto, ImageFeatures)>> = photos
        .par_iter()
        .zip(admitted)
        .map(|(p, plan)| {
            if cancelled.load(Ordering::Relaxed) {
                return Err(ApiError::internal("request abandoned"));
            }
            decode_planned(p, &plan?, size, with_view)
        })
        .collect();
    let mut ok = Vec::with_capacity(photos.len());
    let mut skipped = Vec::new();
    for (p, r) in photos.iter().zip(decoded) {
        match r {
            Ok((img, features)) => ok.push((p.name.clone(), img, features)),
            Err(e) => skipped.push(Skipped {
                file: p.name.clone(),
                reason: e.message,
            }),
        }
    }
    (ok, skipped)
}
