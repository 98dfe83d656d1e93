//! The API description served at `/openapi.json`, generated from the handlers' annotations.
use std::sync::OnceLock;

use utoipa::OpenApi;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};

use crate::{api, error, routes};

#[derive(OpenApi)]
#[openapi(
    info(title = "asl-http", description = "Read American Sign Language fingerspelling from photos: post one photo for its letter, or a zip of photos (or several) for the word they spell."),
    paths(routes::predict, routes::health, routes::ready, routes::metrics, routes::model_card, routes::openapi_json, routes::admin_reload),
    components(schemas(
        api::PredictForm, api::PredictResponse, api::LetterResponse, api::WordResponse, api::LetterOut,
        api::ClassScore, api::AnsweredBy, api::AlternativeOut, api::SkippedOut, api::Health, api::Ready, api::Reloaded,
        error::ErrorBody
    )),
    modifiers(&BearerAuth)
)]
pub struct ApiDoc;

struct BearerAuth;

impl utoipa::Modify for BearerAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as JSON, built once.
pub fn json() -> &'static str {
    static DOC: OnceLock<String> = OnceLock::new();
    DOC.get_or_init(|| {
        ApiDoc::openapi()
            .to_pretty_json()
            .unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    })
}
