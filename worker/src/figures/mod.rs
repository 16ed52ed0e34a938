//! Figures a trial leaves behind, drawn without a plotting library: RGB
//! canvases ([`canvas`]) with a small bitmap font ([`font`]) written as PNG
//! ([`png`]), and the Grad-CAM grid ([`gradcam_grid`]).

pub mod canvas;
pub mod font;
pub mod gradcam_grid;
pub mod png;
