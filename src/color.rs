//! Tag colors: what CSS accepts as a `<color>`, for the forms a tag can use (pure).

/// The CSS named colors (CSS Color Module Level 4), lowercase, sorted.
#[rustfmt::skip]
pub const NAMED_COLORS: [&str; 149] = [
    "aliceblue", "antiquewhite", "aqua", "aquamarine", "azure", "beige", "bisque", "black",
    "blanchedalmond", "blue", "blueviolet", "brown", "burlywood", "cadetblue", "chartreuse",
    "chocolate", "coral", "cornflowerblue", "cornsilk", "crimson", "cyan", "darkblue",
    "darkcyan", "darkgoldenrod", "darkgray", "darkgreen", "darkgrey", "darkkhaki",
    "darkmagenta", "darkolivegreen", "darkorange", "darkorchid", "darkred", "darksalmon",
    "darkseagreen", "darkslateblue", "darkslategray", "darkslategrey", "darkturquoise",
    "darkviolet", "deeppink", "deepskyblue", "dimgray", "dimgrey", "dodgerblue", "firebrick",
    "floralwhite", "forestgreen", "fuchsia", "gainsboro", "ghostwhite", "gold", "goldenrod",
    "gray", "green", "greenyellow", "grey", "honeydew", "hotpink", "indianred", "indigo",
    "ivory", "khaki", "lavender", "lavenderblush", "lawngreen", "lemonchiffon", "lightblue",
    "lightcoral", "lightcyan", "lightgoldenrodyellow", "lightgray", "lightgreen", "lightgrey",
    "lightpink", "lightsalmon", "lightseagreen", "lightskyblue", "lightslategray",
    "lightslategrey", "lightsteelblue", "lightyellow", "lime", "limegreen", "linen", "magenta",
    "maroon", "mediumaquamarine", "mediumblue", "mediumorchid", "mediumpurple",
    "mediumseagreen", "mediumslateblue", "mediumspringgreen", "mediumturquoise",
    "mediumvioletred", "midnightblue", "mintcream", "mistyrose", "moccasin", "navajowhite",
    "navy", "oldlace", "olive", "olivedrab", "orange", "orangered", "orchid", "palegoldenrod",
    "palegreen", "paleturquoise", "palevioletred", "papayawhip", "peachpuff", "peru", "pink",
    "plum", "powderblue", "purple", "rebeccapurple", "red", "rosybrown", "royalblue",
    "saddlebrown", "salmon", "sandybrown", "seagreen", "seashell", "sienna", "silver",
    "skyblue", "slateblue", "slategray", "slategrey", "snow", "springgreen", "steelblue", "tan",
    "teal", "thistle", "tomato", "transparent", "turquoise", "violet", "wheat", "white",
    "whitesmoke", "yellow", "yellowgreen",
];

/// Whether `text` is a CSS color: `#rgb`, `#rgba`, `#rrggbb` or `#rrggbbaa`; a named color
/// (any case, `transparent` included); or `rgb()`, `rgba()`, `hsl()`, `hsla()` in the
/// comma syntax (`rgb(255, 0, 0)`, `hsla(120, 50%, 50%, 0.5)`) or the space syntax
/// (`rgb(255 0 0 / 50%)`). Values out of range are valid CSS (it clamps them), and so
/// are accepted; `currentcolor`, system colors and the newer color spaces (`lab()`,
/// `color()`, …) mean nothing for a tag and are refused.
pub fn is_css_color(text: &str) -> bool {
    if let Some(hex) = text.strip_prefix('#') {
        return matches!(hex.len(), 3 | 4 | 6 | 8) && hex.bytes().all(|b| b.is_ascii_hexdigit());
    }
    let lower = text.to_ascii_lowercase();
    if NAMED_COLORS.binary_search(&lower.as_str()).is_ok() {
        return true;
    }
    let Some((name, rest)) = lower.split_once('(') else {
        return false;
    };
    let Some(args) = rest.strip_suffix(')') else {
        return false;
    };
    let hue_first = match name {
        "rgb" | "rgba" => false,
        "hsl" | "hsla" => true,
        _ => return false,
    };
    match parse_args(args) {
        Some(Args::Commas(values)) => legacy(hue_first, &values),
        Some(Args::Spaces(values, alpha)) => modern(hue_first, &values, alpha),
        None => false,
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Value {
    Number,
    Percentage,
    Angle,
}

enum Args {
    Commas(Vec<Value>),
    /// Three values, and the alpha after `/`.
    Spaces(Vec<Value>, Option<Value>),
}

fn parse_args(args: &str) -> Option<Args> {
    if args.contains(',') {
        let values = args
            .split(',')
            .map(|part| value(part.trim()))
            .collect::<Option<Vec<_>>>()?;
        return Some(Args::Commas(values));
    }
    let (components, alpha) = match args.split_once('/') {
        Some((components, alpha)) => (components, Some(value(alpha.trim())?)),
        None => (args, None),
    };
    let values = components
        .split_ascii_whitespace()
        .map(value)
        .collect::<Option<Vec<_>>>()?;
    Some(Args::Spaces(values, alpha))
}

/// `rgb(r, g, b[, a])` with all three numbers or all three percentages;
/// `hsl(h, s%, l%[, a])`.
fn legacy(hue_first: bool, values: &[Value]) -> bool {
    let (components, alpha) = match values {
        [a, b, c] => ([*a, *b, *c], None),
        [a, b, c, alpha] => ([*a, *b, *c], Some(*alpha)),
        _ => return false,
    };
    let components_ok = if hue_first {
        is_hue(components[0])
            && components[1] == Value::Percentage
            && components[2] == Value::Percentage
    } else {
        components.iter().all(|v| *v == Value::Number)
            || components.iter().all(|v| *v == Value::Percentage)
    };
    components_ok && alpha.is_none_or(is_alpha)
}

/// `rgb(r g b[ / a])` and `hsl(h s l[ / a])`, numbers and percentages mixed freely.
fn modern(hue_first: bool, values: &[Value], alpha: Option<Value>) -> bool {
    let [first, second, third] = values else {
        return false;
    };
    let first_ok = if hue_first {
        is_hue(*first)
    } else {
        is_alpha(*first)
    };
    first_ok && is_alpha(*second) && is_alpha(*third) && alpha.is_none_or(is_alpha)
}

fn is_hue(value: Value) -> bool {
    matches!(value, Value::Number | Value::Angle)
}

/// A number or a percentage (what alpha, rgb and modern hsl components take).
fn is_alpha(value: Value) -> bool {
    matches!(value, Value::Number | Value::Percentage)
}

/// A CSS number, percentage (`50%`) or angle (`120deg`, `1.5rad`, `100grad`, `0.5turn`).
fn value(text: &str) -> Option<Value> {
    let units = [
        ("%", Value::Percentage),
        ("deg", Value::Angle),
        ("grad", Value::Angle),
        ("rad", Value::Angle),
        ("turn", Value::Angle),
    ];
    let (number, kind) = units
        .iter()
        .find_map(|(unit, kind)| text.strip_suffix(unit).map(|n| (n, *kind)))
        .unwrap_or((text, Value::Number));
    is_number(number).then_some(kind)
}

/// CSS `<number>`: an optional sign, digits with an optional fraction (or a fraction
/// alone), and an optional exponent.
fn is_number(text: &str) -> bool {
    let text = text.strip_prefix(['+', '-']).unwrap_or(text);
    let (mantissa, exponent) = match text.find(['e', 'E']) {
        Some(at) => (&text[..at], Some(&text[at + 1..])),
        None => (text, None),
    };
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mantissa_ok = match mantissa.split_once('.') {
        Some((whole, fraction)) => (whole.is_empty() || digits(whole)) && digits(fraction),
        None => digits(mantissa),
    };
    let exponent_ok = exponent.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e)));
    mantissa_ok && exponent_ok
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_named_colors_are_sorted_and_lowercase() {
        let mut sorted = NAMED_COLORS;
        sorted.sort_unstable();
        assert_eq!(sorted, NAMED_COLORS);
        assert!(
            NAMED_COLORS
                .iter()
                .all(|n| n.bytes().all(|b| b.is_ascii_lowercase()))
        );
    }

    #[test]
    fn valid_colors() {
        for color in [
            "#fff",
            "#FFFF",
            "#c377e0",
            "#C377E0aa",
            "red",
            "RebeccaPurple",
            "transparent",
            "rgb(255, 0, 0)",
            "rgba(255,0,0,0.5)",
            "rgb(100%, 0%, 0%)",
            "RGB( 1 , 2 , 3 )",
            "rgb(255 0 0)",
            "rgb(255 0 0 / 50%)",
            "rgb(100% 0 0)",
            "rgb(300, 0, 0)",
            "hsl(120, 50%, 50%)",
            "hsla(120deg, 50%, 50%, .5)",
            "hsl(0.5turn 50% 50% / 0.2)",
            "hsl(1e2 10 20)",
            "rgba(1, 2, 3)",
        ] {
            assert!(is_css_color(color), "{color}");
        }
    }

    #[test]
    fn invalid_colors() {
        for color in [
            "",
            "#",
            "#ff",
            "#fffff",
            "#ggg",
            "c377e0",
            "reddish",
            "currentcolor",
            "rgb(255, 0)",
            "rgb(255, 0, 0, 1, 1)",
            "rgb(255, 0%, 0)",
            "rgb(255 0 0 0)",
            "rgb(255, 0 0)",
            "rgb(255 0 0 /)",
            "hsl(120, 50, 50)",
            "hsl(50%, 50%, 50%)",
            "rgb(120deg 0 0)",
            "rgb 255 0 0",
            "rgb(255,0,0",
            "lab(50% 40 59)",
            "rgb(1e, 2, 3)",
            "rgb(., 2, 3)",
            "rgb(1.2.3, 2, 3)",
            " red",
            "red ",
        ] {
            assert!(!is_css_color(color), "{color}");
        }
    }
}
