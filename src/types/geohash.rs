//! Geohash arithmetic for the GEO commands, bit-for-bit as Redis computes it (`geohash.c`,
//! `geohash_helper.c`).
//!
//! A position is stored as the score of a sorted set member: a 52-bit integer made of 26
//! longitude bits and 26 latitude bits interleaved (latitude in the even bits). The latitude
//! range is the Web Mercator one (±85.05112878), not ±90, so the poles cannot be indexed. A
//! search covers its shape with a cell of a chosen precision plus its eight neighbours and scans
//! the score range of each cell. Every formula below is evaluated in the same order, with the
//! same constants, as in Redis, because GEOPOS / GEODIST / the order of results are compared
//! byte for byte with a real server.

/// Bits per coordinate at full precision (26 × 2 = 52 bits, exact in a double score).
pub const STEP_MAX: u8 = 26;
pub const LAT_MIN: f64 = -85.05112878;
pub const LAT_MAX: f64 = 85.05112878;
pub const LONG_MIN: f64 = -180.0;
pub const LONG_MAX: f64 = 180.0;

/// Earth's quadratic mean radius for WGS-84, the one Redis's distances use.
pub const EARTH_RADIUS_M: f64 = 6372797.560856;
const MERCATOR_MAX: f64 = 20037726.37;
const D_R: f64 = std::f64::consts::PI / 180.0;

fn deg_rad(a: f64) -> f64 {
    a * D_R
}

fn rad_deg(a: f64) -> f64 {
    a / D_R
}

/// A coordinate range (`GeoHashRange`).
#[derive(Clone, Copy, Debug)]
pub struct Range {
    pub min: f64,
    pub max: f64,
}

/// The ranges used for storage (Mercator latitude limits).
pub const LONG_RANGE: Range = Range {
    min: LONG_MIN,
    max: LONG_MAX,
};
pub const LAT_RANGE: Range = Range {
    min: LAT_MIN,
    max: LAT_MAX,
};

/// A cell: `step` bits per coordinate, interleaved in the low `2 * step` bits. The all-zero value
/// (bits 0, step 0) means "no cell" (a neighbour that was excluded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bits {
    pub bits: u64,
    pub step: u8,
}

impl Bits {
    pub fn is_zero(&self) -> bool {
        self.bits == 0 && self.step == 0
    }
}

/// The rectangle a cell covers.
#[derive(Clone, Copy, Debug)]
pub struct Area {
    pub hash: Bits,
    pub lon: Range,
    pub lat: Range,
}

/// Spreads the 32 bits of `x` to the even bit positions and those of `y` to the odd ones.
fn interleave(x: u32, y: u32) -> u64 {
    fn spread(v: u32) -> u64 {
        let mut v = v as u64;
        v = (v | (v << 16)) & 0x0000_FFFF_0000_FFFF;
        v = (v | (v << 8)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v << 4)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v << 2)) & 0x3333_3333_3333_3333;
        (v | (v << 1)) & 0x5555_5555_5555_5555
    }
    spread(x) | (spread(y) << 1)
}

/// The inverse of [`interleave`]: even bits in the low half, odd bits in the high half.
fn deinterleave(v: u64) -> u64 {
    fn squash(mut v: u64) -> u64 {
        v &= 0x5555_5555_5555_5555;
        v = (v | (v >> 1)) & 0x3333_3333_3333_3333;
        v = (v | (v >> 2)) & 0x0F0F_0F0F_0F0F_0F0F;
        v = (v | (v >> 4)) & 0x00FF_00FF_00FF_00FF;
        v = (v | (v >> 8)) & 0x0000_FFFF_0000_FFFF;
        (v | (v >> 16)) & 0x0000_0000_FFFF_FFFF
    }
    squash(v) | (squash(v >> 1) << 32)
}

/// Encodes a position into a cell of `step` bits per coordinate within the given ranges;
/// `None` outside the storage limits or the ranges (`geohashEncode`).
pub fn encode(lon_r: Range, lat_r: Range, lon: f64, lat: f64, step: u8) -> Option<Bits> {
    if step == 0 || step > 32 {
        return None;
    }
    if !(LONG_MIN..=LONG_MAX).contains(&lon) || !(LAT_MIN..=LAT_MAX).contains(&lat) {
        return None;
    }
    if lat < lat_r.min || lat > lat_r.max || lon < lon_r.min || lon > lon_r.max {
        return None;
    }
    let scale = (1u64 << step) as f64;
    let lat_off = (lat - lat_r.min) / (lat_r.max - lat_r.min) * scale;
    let lon_off = (lon - lon_r.min) / (lon_r.max - lon_r.min) * scale;
    // C converts the fixed-point offsets to uint32_t by truncation; both are in [0, 2^32).
    Some(Bits {
        bits: interleave(lat_off as u32, lon_off as u32),
        step,
    })
}

/// Full-precision cell of a position in the storage ranges.
pub fn encode_wgs84(lon: f64, lat: f64, step: u8) -> Option<Bits> {
    encode(LONG_RANGE, LAT_RANGE, lon, lat, step)
}

/// The rectangle of a cell (`geohashDecode`); `None` for the zero cell.
pub fn decode(lon_r: Range, lat_r: Range, hash: Bits) -> Option<Area> {
    if hash.is_zero() {
        return None;
    }
    let sep = deinterleave(hash.bits);
    let lat_scale = lat_r.max - lat_r.min;
    let lon_scale = lon_r.max - lon_r.min;
    let ilat = sep as u32;
    let ilon = (sep >> 32) as u32;
    let div = (1u64 << hash.step) as f64;
    Some(Area {
        hash,
        lat: Range {
            min: lat_r.min + (ilat as f64 / div) * lat_scale,
            max: lat_r.min + ((ilat as u64 + 1) as f64 / div) * lat_scale,
        },
        lon: Range {
            min: lon_r.min + (ilon as f64 / div) * lon_scale,
            max: lon_r.min + ((ilon as u64 + 1) as f64 / div) * lon_scale,
        },
    })
}

/// The centre of a cell, clamped to the storage limits: `[longitude, latitude]`.
pub fn area_center(a: &Area) -> [f64; 2] {
    let lon = ((a.lon.min + a.lon.max) / 2.0).clamp(LONG_MIN, LONG_MAX);
    let lat = ((a.lat.min + a.lat.max) / 2.0).clamp(LAT_MIN, LAT_MAX);
    [lon, lat]
}

/// C's `(uint64_t)d` as x86-64 compiles it, for scores ZADD put outside the geohash range
/// (negative, or beyond 2^64): a truncating signed conversion that yields `i64::MIN` when out of
/// range, offset by 2^63 for values at or above it. Rust's saturating cast would differ.
fn c_double_to_u64(d: f64) -> u64 {
    const TWO63: f64 = 9223372036854775808.0;
    let cvtt = |x: f64| {
        if (-TWO63..TWO63).contains(&x) {
            x as i64
        } else {
            i64::MIN
        }
    };
    if d < TWO63 {
        cvtt(d) as u64
    } else {
        (cvtt(d - TWO63) as u64) ^ (1 << 63)
    }
}

/// The position a sorted-set score stands for (`decodeGeohash`): the centre of its 52-bit cell.
pub fn decode_score(score: f64) -> Option<[f64; 2]> {
    let hash = Bits {
        bits: c_double_to_u64(score),
        step: STEP_MAX,
    };
    decode(LONG_RANGE, LAT_RANGE, hash).map(|a| area_center(&a))
}

/// The score GEOADD stores for a position (None outside the limits).
pub fn score_of(lon: f64, lat: f64) -> Option<u64> {
    encode_wgs84(lon, lat, STEP_MAX).map(align52)
}

/// A cell's bits shifted to the 52-bit score scale (`geohashAlign52Bits`).
pub fn align52(h: Bits) -> u64 {
    h.bits << (52 - h.step as u32 * 2)
}

/// The standard 11-character base32 geohash of a score, as GEOHASH prints it: the position is
/// decoded and re-encoded with the standard ±90 latitude range; the 11th character stands for
/// bits Redis does not have and is always `0`.
pub fn standard_string(score: f64) -> Option<[u8; 11]> {
    const ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";
    let [lon, lat] = decode_score(score)?;
    let std_lon = Range {
        min: -180.0,
        max: 180.0,
    };
    let std_lat = Range { min: -90.0, max: 90.0 };
    let bits = encode(std_lon, std_lat, lon, lat, STEP_MAX).map_or(0, |h| h.bits);
    let mut out = [b'0'; 11];
    for (i, c) in out.iter_mut().enumerate().take(10) {
        let idx = (bits >> (52 - (i + 1) * 5)) & 0x1f;
        *c = ALPHABET[idx as usize];
    }
    Some(out)
}

fn move_x(h: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let mut x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - h.step as u32 * 2;
    let zz = 0x5555_5555_5555_5555u64 >> shift;
    if d > 0 {
        x = x.wrapping_add(zz + 1);
    } else {
        x |= zz;
        x = x.wrapping_sub(zz + 1);
    }
    x &= 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    h.bits = x | y;
}

fn move_y(h: &mut Bits, d: i8) {
    if d == 0 {
        return;
    }
    let x = h.bits & 0xaaaa_aaaa_aaaa_aaaa;
    let mut y = h.bits & 0x5555_5555_5555_5555;
    let shift = 64 - h.step as u32 * 2;
    let zz = 0xaaaa_aaaa_aaaa_aaaau64 >> shift;
    if d > 0 {
        y = y.wrapping_add(zz + 1);
    } else {
        y |= zz;
        y = y.wrapping_sub(zz + 1);
    }
    y &= 0x5555_5555_5555_5555u64 >> shift;
    h.bits = x | y;
}

/// The eight cells around a cell (wrapping around at the edges, as Redis's bit arithmetic does).
#[derive(Clone, Copy, Debug, Default)]
pub struct Neighbors {
    pub north: Bits,
    pub east: Bits,
    pub west: Bits,
    pub south: Bits,
    pub north_east: Bits,
    pub south_east: Bits,
    pub north_west: Bits,
    pub south_west: Bits,
}

pub fn neighbors(h: Bits) -> Neighbors {
    let at = |dx: i8, dy: i8| {
        let mut b = h;
        move_x(&mut b, dx);
        move_y(&mut b, dy);
        b
    };
    Neighbors {
        east: at(1, 0),
        west: at(-1, 0),
        south: at(0, -1),
        north: at(0, 1),
        north_west: at(-1, 1),
        north_east: at(1, 1),
        south_east: at(1, -1),
        south_west: at(-1, -1),
    }
}

/// What a search covers: a circle (radius) or an axis-aligned box (width × height), in the
/// user's unit; `conversion` turns that unit into metres.
#[derive(Clone, Copy, Debug)]
pub enum ShapeKind {
    Radius(f64),
    Box { width: f64, height: f64 },
}

#[derive(Clone, Copy, Debug)]
pub struct Shape {
    /// Centre: `[longitude, latitude]`.
    pub xy: [f64; 2],
    pub conversion: f64,
    pub kind: ShapeKind,
}

/// Cells of precision `step` whose side covers `range_m` metres at latitude `lat`.
pub fn estimate_steps(range_m: f64, lat: f64) -> u8 {
    if range_m == 0.0 {
        return 26;
    }
    let mut range = range_m;
    let mut step: i32 = 1;
    while range < MERCATOR_MAX {
        range *= 2.0;
        step += 1;
    }
    step -= 2;
    // Cells shrink in metres towards the poles.
    if !(-66.0..=66.0).contains(&lat) {
        step -= 1;
        if !(-80.0..=80.0).contains(&lat) {
            step -= 1;
        }
    }
    step.clamp(1, 26) as u8
}

/// The shape's bounding box: `[min_lon, min_lat, max_lon, max_lat]` (`geohashBoundingBox`).
pub fn bounding_box(s: &Shape) -> [f64; 4] {
    let [lon, lat] = s.xy;
    let (h, w) = match s.kind {
        ShapeKind::Radius(r) => (s.conversion * r, s.conversion * r),
        ShapeKind::Box { width, height } => (s.conversion * (height / 2.0), s.conversion * (width / 2.0)),
    };
    let lat_delta = rad_deg(h / EARTH_RADIUS_M);
    let lon_delta_top = rad_deg(w / EARTH_RADIUS_M / deg_rad(lat + lat_delta).cos());
    let lon_delta_bottom = rad_deg(w / EARTH_RADIUS_M / deg_rad(lat - lat_delta).cos());
    // The widest parallel is the one nearer the equator.
    let delta = if lat < 0.0 { lon_delta_bottom } else { lon_delta_top };
    [lon - delta, lat - lat_delta, lon + delta, lat + lat_delta]
}

/// The cells a search scans, in Redis's scan order: the centre cell, then north, south, east,
/// west, north-east, north-west, south-east, south-west. Excluded neighbours are zero cells.
pub fn areas_by_shape(s: &Shape) -> [Bits; 9] {
    let [min_lon, min_lat, max_lon, max_lat] = bounding_box(s);
    let [lon, lat] = s.xy;
    let radius_m = match s.kind {
        ShapeKind::Radius(r) => r,
        ShapeKind::Box { width, height } => ((width / 2.0) * (width / 2.0) + (height / 2.0) * (height / 2.0)).sqrt(),
    } * s.conversion;
    let mut steps = estimate_steps(radius_m, lat);
    let cell = |steps: u8| {
        let hash = encode(LONG_RANGE, LAT_RANGE, lon, lat, steps).unwrap_or_default();
        (hash, neighbors(hash), decode(LONG_RANGE, LAT_RANGE, hash))
    };
    let (mut hash, mut nb, mut area) = cell(steps);
    // A cell next to the centre may still not reach the bounding box: one step coarser then.
    let dec = |b: Bits| decode(LONG_RANGE, LAT_RANGE, b);
    let too_small = dec(nb.north).is_some_and(|a| a.lat.max < max_lat)
        || dec(nb.south).is_some_and(|a| a.lat.min > min_lat)
        || dec(nb.east).is_some_and(|a| a.lon.max < max_lon)
        || dec(nb.west).is_some_and(|a| a.lon.min > min_lon);
    if steps > 1 && too_small {
        steps -= 1;
        (hash, nb, area) = cell(steps);
    }
    if let (true, Some(a)) = (steps >= 2, area) {
        let z = Bits::default();
        if a.lat.min < min_lat {
            (nb.south, nb.south_west, nb.south_east) = (z, z, z);
        }
        if a.lat.max > max_lat {
            (nb.north, nb.north_east, nb.north_west) = (z, z, z);
        }
        if a.lon.min < min_lon {
            (nb.west, nb.south_west, nb.north_west) = (z, z, z);
        }
        if a.lon.max > max_lon {
            (nb.east, nb.south_east, nb.north_east) = (z, z, z);
        }
    }
    [
        hash,
        nb.north,
        nb.south,
        nb.east,
        nb.west,
        nb.north_east,
        nb.north_west,
        nb.south_east,
        nb.south_west,
    ]
}

/// The score range `[min, max)` of the members inside a cell.
pub fn score_range(h: Bits) -> (u64, u64) {
    let min = align52(h);
    let max = align52(Bits {
        bits: h.bits + 1,
        step: h.step,
    });
    (min, max)
}

/// Metres between two latitudes on the same meridian.
pub fn lat_distance(lat1: f64, lat2: f64) -> f64 {
    EARTH_RADIUS_M * (deg_rad(lat2) - deg_rad(lat1)).abs()
}

/// Haversine distance in metres (`geohashGetDistance`).
pub fn distance(lon1: f64, lat1: f64, lon2: f64, lat2: f64) -> f64 {
    let lon1r = deg_rad(lon1);
    let lon2r = deg_rad(lon2);
    let v = ((lon2r - lon1r) / 2.0).sin();
    if v == 0.0 {
        return lat_distance(lat1, lat2);
    }
    let lat1r = deg_rad(lat1);
    let lat2r = deg_rad(lat2);
    let u = ((lat2r - lat1r) / 2.0).sin();
    let a = u * u + lat1r.cos() * lat2r.cos() * v * v;
    2.0 * EARTH_RADIUS_M * a.sqrt().asin()
}

/// Whether the point `xy` is inside the shape; its distance from the centre in metres if so
/// (`geoWithinShape`).
pub fn within(s: &Shape, xy: [f64; 2]) -> Option<f64> {
    let [cx, cy] = s.xy;
    let [x, y] = xy;
    match s.kind {
        ShapeKind::Radius(r) => {
            let d = distance(cx, cy, x, y);
            (d <= r * s.conversion).then_some(d)
        }
        ShapeKind::Box { width, height } => {
            let (w, h) = (width * s.conversion, height * s.conversion);
            if lat_distance(y, cy) > h / 2.0 {
                return None;
            }
            if distance(x, y, cx, y) > w / 2.0 {
                return None;
            }
            Some(distance(cx, cy, x, y))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interleave_roundtrip() {
        for (x, y) in [(0u32, 0u32), (1, 0), (0, 1), (0x3ff_ffff, 0x155_5555), (u32::MAX, 7)] {
            let d = deinterleave(interleave(x, y));
            assert_eq!((d as u32, (d >> 32) as u32), (x, y));
        }
    }

    #[test]
    fn known_score() {
        // GEOADD Sicily 13.361389 38.115556 "Palermo" stores 3479099956230698.
        assert_eq!(score_of(13.361389, 38.115556), Some(3479099956230698));
        assert_eq!(&standard_string(3479099956230698.0).unwrap(), b"sqc8b49rny0");
    }

    #[test]
    fn limits() {
        assert!(score_of(180.1, 0.0).is_none());
        assert!(score_of(0.0, 85.06).is_none());
        assert!(score_of(180.0, 85.05112878).is_some());
    }
}
