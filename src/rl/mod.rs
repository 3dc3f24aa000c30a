pub mod config;
pub mod presets;
