//! The shapes every route shares: the seed's envelope around a route's data, the refusal
//! envelope, and the code table as a schema.
//!
//! These types describe JSON the handlers write through `api::envelope`; they are never
//! built, only documented.

use std::borrow::Cow;

use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::openapi::RefOr;
use utoipa::{PartialSchema, ToSchema};

use crate::error::Code as WireCode;

/// The envelope of a successful answer: `status` 200, the route's `data`, `msg`
/// "success" and an empty `error`.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct Envelope<T> {
    /// 200.
    #[schema(minimum = 200, maximum = 200)]
    status: u32,
    /// The route's answer.
    data: T,
    /// "success".
    msg: String,
    /// Empty.
    error: String,
}

/// The envelope of a refusal.
#[derive(ToSchema)]
#[allow(dead_code)]
pub(crate) struct ErrorEnvelope {
    /// The code: what went wrong (any of `Code` but 200).
    #[schema(schema_with = refusal_code)]
    status: u32,
    /// Null, or for a few codes the seed's own short text.
    data: Option<String>,
    /// The code's short message from the table.
    msg: String,
    /// Why, for people; never an internal cause.
    error: String,
}

/// `data` of a route that answers nothing but success: null.
pub(crate) struct NoData;

impl PartialSchema for NoData {
    fn schema() -> RefOr<Schema> {
        RefOr::T(Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Null)
                .description(Some("Nothing: null."))
                .build(),
        ))
    }
}

impl ToSchema for NoData {}

/// A refusal's code: every code of the table but success, so a success envelope never
/// reads as a refusal.
fn refusal_code() -> Schema {
    let mut one_of = OneOfBuilder::new().description(Some(
        "The code of a refusal: any of `Code` except 200. docs/api.md explains each.",
    ));
    for code in WireCode::ALL.into_iter().filter(|c| *c != WireCode::Ok) {
        one_of = one_of.item(code_item(code));
    }
    Schema::OneOf(one_of.build())
}

fn code_item(code: WireCode) -> ObjectBuilder {
    ObjectBuilder::new()
        .schema_type(Type::Integer)
        .enum_values(Some([code.number()]))
        .title(Some(format!("{code:?}")))
        .description(Some(code.msg()))
}

/// The table of wire codes: envelope `status` values and WebSocket `code`s.
pub(crate) struct Code;

impl PartialSchema for Code {
    fn schema() -> RefOr<Schema> {
        let mut one_of = OneOfBuilder::new().description(Some(
            "A wire code: the envelope's `status`, and a WebSocket frame's `code`. \
             docs/api.md explains each.",
        ));
        for code in WireCode::ALL {
            one_of = one_of.item(code_item(code));
        }
        RefOr::T(Schema::OneOf(one_of.build()))
    }
}

impl ToSchema for Code {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("Code")
    }
}
