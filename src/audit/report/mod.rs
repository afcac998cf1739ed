//! The audit's reports, one module per format: `text` (a terminal), `markdown` (a
//! pull-request job summary), `json` (every verdict and its evidence), `sarif` (code
//! scanning) and `html` (the auditor's evidence report).

mod html;
mod json;
mod markdown;
mod sarif;
mod text;

pub use html::html;
pub use json::json;
pub use markdown::markdown;
pub use sarif::sarif;
pub use text::text;
