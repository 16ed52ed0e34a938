//! A minimal PNG writer: 8-bit RGB, no interlace, one zlib-compressed IDAT
//! (filter type 0 on every row), chunks checked by CRC-32, as the PNG
//! specification (ISO/IEC 15948) lays out.

use flate2::write::ZlibEncoder;
use flate2::Compression;
use std::io::Write;

const SIGNATURE: [u8; 8] = [0x89, b'P', b'N', b'G', b'\r', b'\n', 0x1a, b'\n'];

/// The PNG file of a `width` × `height` RGB image (`rgb` row-major, 3 bytes a pixel).
pub fn encode_rgb(width: u32, height: u32, rgb: &[u8]) -> Vec<u8> {
    assert_eq!(
        rgb.len(),
        width as usize * height as usize * 3,
        "3 bytes a pixel"
    );
    let mut out = SIGNATURE.to_vec();
    let mut ihdr = Vec::with_capacity(13);
    ihdr.extend(width.to_be_bytes());
    ihdr.extend(height.to_be_bytes());
    // bit depth 8, colour type 2 (RGB), compression 0, filter 0, interlace 0.
    ihdr.extend([8, 2, 0, 0, 0]);
    chunk(&mut out, b"IHDR", &ihdr);
    let row = width as usize * 3;
    let mut z = ZlibEncoder::new(Vec::new(), Compression::default());
    for line in rgb.chunks_exact(row.max(1)).take(height as usize) {
        z.write_all(&[0]).expect("writing to memory");
        z.write_all(line).expect("writing to memory");
    }
    chunk(&mut out, b"IDAT", &z.finish().expect("writing to memory"));
    chunk(&mut out, b"IEND", &[]);
    out
}

fn chunk(out: &mut Vec<u8>, kind: &[u8; 4], data: &[u8]) {
    out.extend((data.len() as u32).to_be_bytes());
    let mut crc = crc32fast::Hasher::new();
    crc.update(kind);
    crc.update(data);
    out.extend(kind);
    out.extend(data);
    out.extend(crc.finalize().to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::read::ZlibDecoder;
    use std::io::Read;

    #[test]
    fn a_two_by_one_image_round_trips() {
        let png = encode_rgb(2, 1, &[255, 0, 0, 0, 0, 255]);
        assert_eq!(&png[..8], &SIGNATURE);
        // IHDR: length 13, then the type, width 2, height 1.
        assert_eq!(&png[8..16], &[0, 0, 0, 13, b'I', b'H', b'D', b'R']);
        assert_eq!(&png[16..24], &[0, 0, 0, 2, 0, 0, 0, 1]);
        // IDAT holds the filter byte and the row.
        let idat_at = png.windows(4).position(|w| w == b"IDAT").unwrap();
        let len = u32::from_be_bytes(png[idat_at - 4..idat_at].try_into().unwrap()) as usize;
        let mut raw = Vec::new();
        ZlibDecoder::new(&png[idat_at + 4..idat_at + 4 + len])
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw, [0, 255, 0, 0, 0, 0, 255]);
        assert!(png.ends_with(&[0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xae, 0x42, 0x60, 0x82]));
    }
}
