//! ECS task definitions: the rendering berth registers (and its hash), and
//! the lookups of the revisions berth registered. Shared by every kind that
//! runs tasks; owned by none.

mod document;
pub mod render;
mod request;
pub mod revisions;

pub use render::{register_request, secret_arns, RenderInput, RenderedTaskDefinition, TAG_HASH};
pub use revisions::{family_of, latest, latest_with_hash, owned_revisions, Latest};
