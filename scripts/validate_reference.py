#!/usr/bin/env python3
"""The benchmark's yardstick: a plain Python csv + json script doing the mapping that
`helpcrunch-import validate` does for a CSV file under the column-name conventions.

For each row: the field count, the API's text fields (trimmed, empty ones left out), a
strict email check, firstSeen as UNIX seconds or ISO 8601 (1970 to 2100), the locale
reduced to ISO 639-1, tags split on ";", typed customData (integer, float, boolean, date)
and a userId repeated within the file. Failed rows go to failed.csv with their reasons,
the counts to summary.json, as the importer writes them.

    python3 scripts/validate_reference.py contacts.csv OUT_DIR
"""

import csv
import json
import math
import os
import re
import sys
from datetime import datetime, timezone

LATEST = 4_133_980_799  # 2100-12-31T23:59:59Z

# ISO 639-3 code, ISO 639-1 code and English name of every language that has a
# 639-1 code, from the ISO 639-3 table that the Rust side's isolang crate ships.
LANGUAGES = (
    'aar:aa:Afar|abk:ab:Abkhazian|afr:af:Afrikaans|aka:ak:Akan|amh:am:Amharic|ara:ar:Arab'
    'ic|arg:an:Aragonese|asm:as:Assamese|ava:av:Avaric|ave:ae:Avestan|aym:ay:Aymara|aze:a'
    'z:Azerbaijani|bak:ba:Bashkir|bam:bm:Bambara|bel:be:Belarusian|ben:bn:Bengali|bis:bi:'
    'Bislama|bod:bo:Tibetan|bos:bs:Bosnian|bre:br:Breton|bul:bg:Bulgarian|cat:ca:Catalan|'
    'ces:cs:Czech|cha:ch:Chamorro|che:ce:Chechen|chu:cu:Church Slavic|chv:cv:Chuvash|cor:'
    'kw:Cornish|cos:co:Corsican|cre:cr:Cree|cym:cy:Welsh|dan:da:Danish|deu:de:German|div:'
    'dv:Dhivehi|dzo:dz:Dzongkha|ell:el:Modern Greek (1453-)|eng:en:English|epo:eo:Esperan'
    'to|est:et:Estonian|eus:eu:Basque|ewe:ee:Ewe|fao:fo:Faroese|fas:fa:Persian|fij:fj:Fij'
    'ian|fin:fi:Finnish|fra:fr:French|fry:fy:Western Frisian|ful:ff:Fulah|gla:gd:Scottish'
    ' Gaelic|gle:ga:Irish|glg:gl:Galician|glv:gv:Manx|grn:gn:Guarani|guj:gu:Gujarati|hat:'
    'ht:Haitian|hau:ha:Hausa|hbs:sh:Serbo-Croatian|heb:he:Hebrew|her:hz:Herero|hin:hi:Hin'
    'di|hmo:ho:Hiri Motu|hrv:hr:Croatian|hun:hu:Hungarian|hye:hy:Armenian|ibo:ig:Igbo|ido'
    ':io:Ido|iii:ii:Sichuan Yi|iku:iu:Inuktitut|ile:ie:Interlingue|ina:ia:Interlingua (In'
    'ternational Auxiliary Language Association)|ind:id:Indonesian|ipk:ik:Inupiaq|isl:is:'
    'Icelandic|ita:it:Italian|jav:jv:Javanese|jpn:ja:Japanese|kal:kl:Kalaallisut|kan:kn:K'
    'annada|kas:ks:Kashmiri|kat:ka:Georgian|kau:kr:Kanuri|kaz:kk:Kazakh|khm:km:Khmer|kik:'
    'ki:Kikuyu|kin:rw:Kinyarwanda|kir:ky:Kirghiz|kom:kv:Komi|kon:kg:Kongo|kor:ko:Korean|k'
    'ua:kj:Kuanyama|kur:ku:Kurdish|lao:lo:Lao|lat:la:Latin|lav:lv:Latvian|lim:li:Limburga'
    'n|lin:ln:Lingala|lit:lt:Lithuanian|ltz:lb:Luxembourgish|lub:lu:Luba-Katanga|lug:lg:G'
    'anda|mah:mh:Marshallese|mal:ml:Malayalam|mar:mr:Marathi|mkd:mk:Macedonian|mlg:mg:Mal'
    'agasy|mlt:mt:Maltese|mon:mn:Mongolian|mri:mi:Maori|msa:ms:Malay (macrolanguage)|mya:'
    'my:Burmese|nau:na:Nauru|nav:nv:Navajo|nbl:nr:South Ndebele|nde:nd:North Ndebele|ndo:'
    'ng:Ndonga|nep:ne:Nepali (macrolanguage)|nld:nl:Dutch|nno:nn:Norwegian Nynorsk|nob:nb'
    ':Norwegian Bokmål|nor:no:Norwegian|nya:ny:Nyanja|oci:oc:Occitan (post 1500)|oji:oj:O'
    'jibwa|ori:or:Oriya (macrolanguage)|orm:om:Oromo|oss:os:Ossetian|pan:pa:Panjabi|pli:p'
    'i:Pali|pol:pl:Polish|por:pt:Portuguese|pus:ps:Pushto|que:qu:Quechua|roh:rm:Romansh|r'
    'on:ro:Romanian|run:rn:Rundi|rus:ru:Russian|sag:sg:Sango|san:sa:Sanskrit|sin:si:Sinha'
    'la|slk:sk:Slovak|slv:sl:Slovenian|sme:se:Northern Sami|smo:sm:Samoan|sna:sn:Shona|sn'
    'd:sd:Sindhi|som:so:Somali|sot:st:Southern Sotho|spa:es:Spanish|sqi:sq:Albanian|srd:s'
    'c:Sardinian|srp:sr:Serbian|ssw:ss:Swati|sun:su:Sundanese|swa:sw:Swahili (macrolangua'
    'ge)|swe:sv:Swedish|tah:ty:Tahitian|tam:ta:Tamil|tat:tt:Tatar|tel:te:Telugu|tgk:tg:Ta'
    'jik|tgl:tl:Tagalog|tha:th:Thai|tir:ti:Tigrinya|ton:to:Tonga (Tonga Islands)|tsn:tn:T'
    'swana|tso:ts:Tsonga|tuk:tk:Turkmen|tur:tr:Turkish|twi:tw:Twi|uig:ug:Uighur|ukr:uk:Uk'
    'rainian|urd:ur:Urdu|uzb:uz:Uzbek|ven:ve:Venda|vie:vi:Vietnamese|vol:vo:Volapük|wln:w'
    'a:Walloon|wol:wo:Wolof|xho:xh:Xhosa|yid:yi:Yiddish|yor:yo:Yoruba|zha:za:Zhuang|zho:z'
    'h:Chinese|zul:zu:Zulu'
)

BY_639_1 = {}
BY_639_3 = {}
BY_NAME = {}
for entry in LANGUAGES.split("|"):
    three, two, name = entry.split(":")
    BY_639_1[two] = two
    BY_639_3[three] = two
    BY_NAME[name.lower()] = two

FIELDS = ["name", "email", "userId", "company", "phone", "firstSeen", "source", "locale", "notes"]
FIELD_BY_LOWER = {f.lower(): f for f in FIELDS}

EMAIL = re.compile(
    r"^(?!\.)(?!.*\.\.)[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+(?<!\.)"
    r"@(?=.{1,253}$)([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
    r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"
)


def timestamp(text):
    """UNIX seconds, or None and the problem."""
    if text.isdigit():
        seconds = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
        except ValueError:
            return None, f"{json.dumps(text)} is not a date"
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        seconds = int(moment.timestamp())
    if seconds < 0:
        return None, f"{json.dumps(text)} is before 1970"
    if seconds > LATEST:
        return None, f"{json.dumps(text)} is after the year 2100"
    return str(seconds), None


def locale(text):
    primary = re.split(r"[-_.@]", text, maxsplit=1)[0].lower()
    code = BY_639_1.get(primary) if len(primary) == 2 else BY_639_3.get(primary)
    return code or BY_NAME.get(text.lower())


def convert(kind, text):
    """(value, problem) for a typed customData cell."""
    if kind == "integer":
        try:
            return int(text), None
        except ValueError:
            return None, f"{json.dumps(text)} is not an integer"
    if kind == "float":
        try:
            number = float(text)
        except ValueError:
            number = math.inf
        if math.isfinite(number):
            return number, None
        return None, f"{json.dumps(text)} is not a finite number"
    if kind == "boolean":
        lowered = text.lower()
        if lowered in ("true", "yes", "1"):
            return True, None
        if lowered in ("false", "no", "0"):
            return False, None
        return None, f"{json.dumps(text)} is not a boolean"
    if kind == "date":
        return timestamp(text)
    return text, None


def plan(header):
    """For each column: ("field", name), ("tags",), ("custom", property, type) or None."""
    columns = []
    for name in header:
        lowered = name.lower()
        if name.startswith("_"):
            columns.append(None)
        elif lowered in FIELD_BY_LOWER:
            columns.append(("field", FIELD_BY_LOWER[lowered]))
        elif lowered == "tags":
            columns.append(("tags",))
        elif lowered.startswith("customdata."):
            spec = name[len("customData."):]
            prop, _, kind = spec.rpartition(":") if ":" in spec else (spec, "", "string")
            columns.append(("custom", prop.strip(), kind.strip().lower()))
        else:
            columns.append(None)
    return columns


def map_row(columns, values):
    """The payload and its problems."""
    payload, errors = {}, []
    tags, custom = [], []
    for column, raw in zip(columns, values):
        text = raw.strip()
        if column is None or not text:
            continue
        if column[0] == "field":
            field = column[1]
            if field == "firstSeen":
                value, problem = timestamp(text)
                if problem:
                    errors.append(f"firstSeen {problem}")
                    continue
            elif field == "locale":
                value = locale(text)
                if value is None:
                    errors.append(f"locale {json.dumps(text)} is not an ISO 639-1 language code")
                    continue
            else:
                value = text
            payload[field] = value
        elif column[0] == "tags":
            for tag in text.split(";"):
                tag = tag.strip()
                if tag and all(t["name"] != tag for t in tags):
                    tags.append({"name": tag})
        else:
            value, problem = convert(column[2], text)
            if problem:
                errors.append(f"customData.{column[1]} {problem}")
            else:
                custom.append({"property": column[1], "value": value})
    if tags:
        payload["tags"] = tags
    if custom:
        payload["customData"] = custom
    email = payload.get("email")
    if email is not None and not EMAIL.match(email):
        errors.append(f"email {json.dumps(email)} is not a valid email address")
    return payload, errors


def check_rows(path, header, rows, out_dir):
    """Maps and checks `rows` (pairs of a line number and the row's cells as text, under
    `header`), writing failed.csv and summary.json into `out_dir` as the importer does."""
    os.makedirs(out_dir, exist_ok=True)
    counts = {"rows_read": 0, "valid": 0, "failed": 0, "repeated_emails": 0}
    kinds = {}
    seen_ids, seen_emails = {}, set()
    columns = plan(header)
    with open(os.path.join(out_dir, "failed.csv"), "w", newline="", encoding="utf-8") as out:
        failed = csv.writer(out)
        failed.writerow(["_file", "_line", "_status", "_errors"] + header)
        for line, values in rows:
            counts["rows_read"] += 1
            if len(values) != len(header):
                errors = [f"expected {len(header)} fields, found {len(values)}"]
            else:
                payload, errors = map_row(columns, values)
                user_id = payload.get("userId")
                if not errors and user_id is not None:
                    if user_id in seen_ids:
                        errors = [f"userId {json.dumps(user_id)} is a duplicate of {path}:{seen_ids[user_id]}"]
                    else:
                        seen_ids[user_id] = line
                if not errors and "email" in payload:
                    email = payload["email"].lower()
                    if email in seen_emails:
                        counts["repeated_emails"] += 1
                    seen_emails.add(email)
            if errors:
                counts["failed"] += 1
                for error in errors:
                    kind = re.sub(r'"[^"]*"', '"…"', error)
                    kinds[kind] = kinds.get(kind, 0) + 1
                failed.writerow([path, line, "invalid", "; ".join(errors)] + values)
            else:
                counts["valid"] += 1
    with open(os.path.join(out_dir, "summary.json"), "w", encoding="utf-8") as summary:
        json.dump({**counts, "errors_by_kind": kinds}, summary, indent=2)
    print(f"{counts['rows_read']} rows read: {counts['valid']} valid, {counts['failed']} failed")


def main():
    path, out_dir = sys.argv[1], sys.argv[2]
    with open(path, newline="", encoding="utf-8-sig") as source:
        reader = csv.reader(source)
        header = [name.strip() for name in next(reader)]
        rows = ((reader.line_num, values) for values in reader if values)
        check_rows(path, header, rows, out_dir)


if __name__ == "__main__":
    main()
