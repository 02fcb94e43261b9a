//! The emulator's reading of "a valid CSS color" for a tag (its own, so that the importer's
//! checks are tested against an independent reading of the same rule).

/// Hex (`#rgb`, `#rgba`, `#rrggbb`, `#rrggbbaa`), a CSS Color 4 named color or
/// `transparent`, or `rgb[a]()` / `hsl[a]()` with commas or with spaces and `/ alpha`.
pub(crate) fn is_color(text: &str) -> bool {
    if let Some(digits) = text.strip_prefix('#') {
        return [3, 4, 6, 8].contains(&digits.len())
            && digits.chars().all(|c| c.is_ascii_hexdigit());
    }
    let lower = text.to_ascii_lowercase();
    NAMES.split_ascii_whitespace().any(|name| name == lower) || function(&lower)
}

/// CSS named colors, as the spec lists them.
const NAMES: &str = "
    aliceblue antiquewhite aqua aquamarine azure beige bisque black blanchedalmond blue
    blueviolet brown burlywood cadetblue chartreuse chocolate coral cornflowerblue cornsilk
    crimson cyan darkblue darkcyan darkgoldenrod darkgray darkgreen darkgrey darkkhaki
    darkmagenta darkolivegreen darkorange darkorchid darkred darksalmon darkseagreen
    darkslateblue darkslategray darkslategrey darkturquoise darkviolet deeppink deepskyblue
    dimgray dimgrey dodgerblue firebrick floralwhite forestgreen fuchsia gainsboro ghostwhite
    gold goldenrod gray green greenyellow grey honeydew hotpink indianred indigo ivory khaki
    lavender lavenderblush lawngreen lemonchiffon lightblue lightcoral lightcyan
    lightgoldenrodyellow lightgray lightgreen lightgrey lightpink lightsalmon lightseagreen
    lightskyblue lightslategray lightslategrey lightsteelblue lightyellow lime limegreen linen
    magenta maroon mediumaquamarine mediumblue mediumorchid mediumpurple mediumseagreen
    mediumslateblue mediumspringgreen mediumturquoise mediumvioletred midnightblue mintcream
    mistyrose moccasin navajowhite navy oldlace olive olivedrab orange orangered orchid
    palegoldenrod palegreen paleturquoise palevioletred papayawhip peachpuff peru pink plum
    powderblue purple rebeccapurple red rosybrown royalblue saddlebrown salmon sandybrown
    seagreen seashell sienna silver skyblue slateblue slategray slategrey snow springgreen
    steelblue tan teal thistle tomato transparent turquoise violet wheat white whitesmoke
    yellow yellowgreen";

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Num,
    Pct,
    Deg,
}

fn function(text: &str) -> bool {
    let Some(open) = text.find('(') else {
        return false;
    };
    let Some(inner) = text[open + 1..].strip_suffix(')') else {
        return false;
    };
    let hsl = match &text[..open] {
        "rgb" | "rgba" => false,
        "hsl" | "hsla" => true,
        _ => return false,
    };
    if inner.contains(',') {
        let mut kinds = Vec::new();
        for part in inner.split(',') {
            match kind(part.trim()) {
                Some(k) => kinds.push(k),
                None => return false,
            }
        }
        if kinds.len() != 3 && kinds.len() != 4 {
            return false;
        }
        let alpha_ok = kinds.get(3).is_none_or(|k| *k != Kind::Deg);
        let body_ok = if hsl {
            kinds[0] != Kind::Pct && kinds[1] == Kind::Pct && kinds[2] == Kind::Pct
        } else {
            kinds[..3].iter().all(|k| *k == Kind::Num) || kinds[..3].iter().all(|k| *k == Kind::Pct)
        };
        return alpha_ok && body_ok;
    }
    let mut halves = inner.splitn(2, '/');
    let body: Vec<&str> = halves
        .next()
        .unwrap_or("")
        .split_ascii_whitespace()
        .collect();
    if let Some(alpha) = halves.next()
        && !matches!(kind(alpha.trim()), Some(Kind::Num | Kind::Pct))
    {
        return false;
    }
    if body.len() != 3 {
        return false;
    }
    body.iter().enumerate().all(|(i, token)| match kind(token) {
        Some(Kind::Deg) => hsl && i == 0,
        Some(Kind::Pct) => !(hsl && i == 0),
        Some(Kind::Num) => true,
        None => false,
    })
}

/// The kind of one CSS value token: number, percentage or angle.
fn kind(token: &str) -> Option<Kind> {
    let (number, kind) = if let Some(n) = token.strip_suffix('%') {
        (n, Kind::Pct)
    } else if let Some(n) = ["deg", "grad", "rad", "turn"]
        .iter()
        .find_map(|unit| token.strip_suffix(unit))
    {
        (n, Kind::Deg)
    } else {
        (token, Kind::Num)
    };
    number_ok(number).then_some(kind)
}

/// `[+-]` digits `[. digits]` or `. digits`, then `[eE[+-]digits]`.
fn number_ok(text: &str) -> bool {
    let bytes = text.as_bytes();
    let mut i = usize::from(matches!(bytes.first(), Some(b'+' | b'-')));
    let count_digits = |from: usize| {
        bytes[from..]
            .iter()
            .take_while(|b| b.is_ascii_digit())
            .count()
    };
    let whole = count_digits(i);
    i += whole;
    let mut fraction = 0;
    if bytes.get(i) == Some(&b'.') {
        fraction = count_digits(i + 1);
        if fraction == 0 {
            return false;
        }
        i += 1 + fraction;
    }
    if whole == 0 && fraction == 0 {
        return false;
    }
    if matches!(bytes.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(bytes.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let exponent = count_digits(i);
        if exponent == 0 {
            return false;
        }
        i += exponent;
    }
    i == bytes.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colors() {
        for good in [
            "#c377e0",
            "#FFF",
            "Red",
            "transparent",
            "rgb(1,2,3)",
            "rgb(1 2 3 / .5)",
            "hsla(1turn, 2%, 3%, 40%)",
        ] {
            assert!(is_color(good), "{good}");
        }
        for bad in [
            "",
            "c377e0",
            "#12345",
            "blurple",
            "rgb(1,2)",
            "hsl(1%, 2%, 3%)",
            "rgb(1 2 3 4)",
            "rgb(1e 2 3)",
            "currentcolor",
        ] {
            assert!(!is_color(bad), "{bad}");
        }
        assert_eq!(NAMES.split_ascii_whitespace().count(), 149);
    }
}
