//! The font the plots use for titles and labels.
//!
//! plotters (with `ab_glyph`) renders text only with a TrueType font registered by the
//! program; it does not look fonts up itself. The first readable font among a few usual
//! system paths is registered once (`.ci/setup.sh` installs DejaVu); without one, plots are
//! drawn without text.

use std::sync::OnceLock;

use plotters::style::{register_font, FontStyle};

/// Fonts tried in order (DejaVu ships with most Linux distributions).
const FONT_PATHS: [&str; 6] = [
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The family name the font is registered under.
pub const FONT: &str = "sans-serif";

/// Registers the first usable font of [`FONT_PATHS`] once; false when there is none.
pub fn font_registered() -> bool {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    *REGISTERED.get_or_init(|| {
        FONT_PATHS.iter().any(|path| {
            let Ok(bytes) = std::fs::read(path) else { return false };
            // plotters keeps fonts for the life of the program; one font is leaked once.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            register_font(FONT, FontStyle::Normal, bytes).is_ok()
        })
    })
}
