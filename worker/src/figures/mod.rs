//! Figures a trial leaves behind, drawn without a plotting library: RGB
//! canvases ([`canvas`]) with a small bitmap font ([`font`]) written as PNG
//! ([`png`]), the Grad-CAM grid ([`gradcam_grid`]) and the confusion matrix
//! ([`confusion`]).

pub mod canvas;
pub mod confusion;
pub mod font;
pub mod gradcam_grid;
pub mod png;
