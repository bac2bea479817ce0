#!/usr/bin/env python3
"""Writes the fuzz targets' seed corpora (tests/fuzz/corpus/<target>/) from
the fixtures, the reference data and the shipped models, plus hand-made
cases. Deterministic: rerun after changing a fixture and commit the result.
Request seeds are encoded with protoc from text format.

    tests/fuzz/make_corpus.py [--protoc protoc]
"""
import argparse
import csv
import hashlib
import io
import json
import os
import shutil
import struct
import subprocess

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
FIXTURES = os.path.join(ROOT, "tests", "fixtures")
VN = os.path.join(ROOT, "data", "vn")


def read(path):
    with open(path, "rb") as f:
        return f.read()


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def head(path, n):
    return b"".join(read(path).splitlines(keepends=True)[:n])


class Corpus:
    def __init__(self, name):
        self.dir = os.path.join(HERE, "corpus", name)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.makedirs(self.dir)

    def add(self, data):
        if isinstance(data, str):
            data = data.encode("utf-8")
        name = hashlib.sha1(data).hexdigest()[:16]
        with open(os.path.join(self.dir, name), "wb") as f:
            f.write(data)


FIXTURE_CSVS = ["tricky_register.csv", "tricky_queries.csv", "tricky_verify_expected.csv"]
PEOPLE = rows(os.path.join(FIXTURES, "tricky_register.csv")) + rows(
    os.path.join(FIXTURES, "tricky_queries.csv"))

# TCVN3 and VNI renderings (bytes shown as Windows-1252), from the shipped
# table, to seed names the way legacy lists write them.
LEGACY = {}
for r in rows(os.path.join(VN, "vn_legacy_charset_table.csv")):
    LEGACY[r["unicode"]] = (r["tcvn3_as_cp1252"], r["vni_as_cp1252"])


def render(text, which):
    return "".join(LEGACY.get(c, (c, c))[which] for c in text)


NAMES = sorted({p["full_name"] for p in PEOPLE}) + [
    "Nguyễn Thị Hòa", "Nguyễn Thị Hoà", "NGUYỄN VĂN A", "Tôn Thất Thuyết", "Hoàng Phủ Ngọc Tường",
    "Âu Dương Phong", "Ma Thị Mỷ", "Lò Văn Quý", "Nguyễn  Thị\tHoa", "Nguyễn-Thị (Hoa)",
    "Nguyê\u0303n Thi\u0323 Hoa", "Ðặng Văn Ðức", "Huỳnh Văn Võ", "Hoaøng Thò Mai", "Lý Kim §µi",
    "Ph¹m V¨n T\u00ad", "maria josé", "", " ", "x", "ngh", "Quý Quí Lý Lí Thủy Thuỷ",
]
NAMES += [render(n, 0) for n in NAMES[:20]] + [render(n, 1) for n in NAMES[:20]]
DATES = sorted({p["birth_date"] for p in PEOPLE}) + [
    "46/04/1939", "29/02/1950", "29/02/2000", "29/02/1900", "1950", "01/01/1950", "13/25/1950",
    "25/13/1950", "31/04/1960", "30/02/1970", "1950-04-12", "19500412", "19450493", "04/1950",
    "4/1950", "1.2.1950", "12-05-1948", " 12 / 05 / 1948 ", "1879", "2101", "0/0/1950", "1/2/3",
    "12/34/56/78", "abc 1950", "2332-22121232 33.121", "1/4294967303/1950", "",
]
IDS = sorted({p.get("national_id", "") for p in PEOPLE} | {p.get("old_id", "") or "" for p in PEOPLE}) + [
    "001190012345", "０１２３", "001 190 012 345", "001-190.012.345", "123456789", "12345678",
    "0011900123456", "999990012345", "006848003121", "0061A8003121", "", "        ",
    "\u0660\u0661\u0662",
]
ADDRESSES = sorted({p["address"] for p in PEOPLE}) + [
    "Tổ 12, P. Đức Xuân, TP. Bắc Kạn", "P. Duc Xuan, TP Bac Kan", "P. Đức Xuân TP Bắc Kạn",
    "Xã Nghi Văn, H. Nghi Lộc, Nghệ An", "Xa Nghi Van, Nghe An", "TT. Phủ Thông, H. Bạch Thông",
    "Phường 09, Quận 3, TP. Hồ Chí Minh", "Số 5 ngõ 3, Thôn Nà Pài; Xã Ba Bể", "Ấp 3, Xã Tân Phú",
    "Bản Lầm, Thu Cúc, Phú Thọ", ",,,", "Hà Nội", "",
]
COMMUNES = sorted({p.get("commune_code", "") for p in PEOPLE}) + ["01840", "00070", "00001", "1840", "99999", ""]


def csv_text(header, records):
    out = io.StringIO()
    w = csv.writer(out, lineterminator="\n")
    w.writerow(header)
    for r in records:
        w.writerow([r.get(h, "") for h in header])
    return out.getvalue()


def make_csv():
    c = Corpus("csv")
    for name in FIXTURE_CSVS:
        c.add(b"\x40" + read(os.path.join(FIXTURES, name)))
    for name in sorted(os.listdir(VN)):
        if name.endswith(".csv"):
            c.add(b"\x10" + head(os.path.join(VN, name), 12))
    c.add(b"\x05" + head(os.path.join(ROOT, "data", "febrl", "dataset1.csv"), 10))
    for text in ['a,b\r\n1,2\r\n', 'a,"b ""q"" c",d\n', 'a,"multi\nline",c\n', ' a , b ,c\n',
                 '"unterminated\n', 'a,b\n\n\nc,d', '\ufeffrecord_id,full_name\nR1,An\n',
                 'a,"x\ny"\rb\nc\n', 'a,b,"",,\n', '"a"b,c\n', '\x00,\x00\n']:
        c.add(b"\x03" + text.encode())


def make_person_csv():
    c = Corpus("person_csv")
    for name in FIXTURE_CSVS[:2]:
        c.add(b"\x00" + read(os.path.join(FIXTURES, name)))
        c.add(b"\x02" + read(os.path.join(FIXTURES, name)))
    # Data rows under the standard header the fuzzer puts in front (mode 1).
    std = ["record_id", "national_id", "old_id", "full_name", "sex", "birth_date", "ethnicity",
           "address", "commune_code", "district_code", "province_code", "phone", "unit_version",
           "note"]
    text = csv_text(std, PEOPLE).split("\n", 1)[1]
    c.add(b"\x01" + text.encode())
    c.add(b"\x03" + text.encode())
    for d in DATES[-20:]:
        c.add(b"\x01" + csv_text(std, [{"record_id": "H1", "full_name": "Nguyễn Thị Hòa",
                                        "birth_date": d, "sex": "Nữ"}]).split("\n", 1)[1].encode())
    for sex in ["Nam", "Nữ", "M", "F", "male", "1", "0", "x", "abc"]:
        c.add(b"\x01" + f"S1,,,Lò Văn Quý,{sex},1950,Thái,,,,,,pre2025,\n".encode())
    c.add(b"\x00record_id,full_name,full_name\nR1,A,B\n")
    c.add(b"\x00record_id,address,unit_version\nR1,x,2025\n")
    c.add("\x00 Record_ID , FULL_NAME ,Extra\nR1,Lý Kim §µi,v\nR2,An\n")


def make_person_json():
    c = Corpus("person_json")
    lines = [json.dumps(p, ensure_ascii=False) for p in PEOPLE]
    c.add(b"\x00" + "\n".join(lines).encode())
    for line in lines[:6]:
        c.add(b"\x01" + line.encode())
    for text in ['{"record_id":"J1","full_name":"Nguyễn Thị Hòa","birth_date":1950}',
                 '{"record_id":1,"full_name":"An","sex":null,"phone":true}',
                 '{"record_id":"J2","full_name":"An","address":{"a":1}}',
                 '{"record_id":"J3","full_name":"An","tags":["x"]}',
                 '{"record_id":"J4","full_name":"An","unit_version":"old","sex":"Nữ"}',
                 '[1,2]', '{', '{"a":"\\ud800"}', '{"record_id":"J5","full_name":"\\u0000"}',
                 '{"record_id":"J6","full_name":"An","birth_date":1e308}', '']:
        c.add(b"\x00" + text.encode())


def make_dates():
    c = Corpus("dates")
    for d in DATES:
        c.add(d)


def make_national_id():
    c = Corpus("national_id")
    for i in IDS:
        c.add(i)


def make_names(name):
    c = Corpus(name)
    for n in NAMES:
        c.add(n)
    if name == "legacy":
        for line in read(os.path.join(VN, "vn_legacy_charset_table.csv")).splitlines()[1:60:4]:
            c.add(line)


def make_address():
    c = Corpus("address")
    for i, p in enumerate(PEOPLE):
        fields = [p.get("address", ""), p.get("commune_code", ""), p.get("district_code", ""),
                  p.get("province_code", "")]
        c.add(bytes([i % 9]) + "\n".join(fields).encode())
    for i, a in enumerate(ADDRESSES):
        c.add(bytes([i % 9]) + a.encode())
    for i, code in enumerate(COMMUNES):
        c.add(bytes([i % 9]) + f"\n{code}\n\n".encode())
    c.add(b"\x01\n\n004\n06")
    c.add("\x02Xã Ba Bể\n01906\n\n19")


def make_model_text():
    c = Corpus("model_text")
    for name in sorted(os.listdir(os.path.join(ROOT, "data", "models"))):
        c.add(read(os.path.join(ROOT, "data", "models", name)))
    c.add('version: "tiny" policy { match_probability: 0.9 review_probability: 0.5 }\n'
          'spec { name: "t" fields { name: "n" source: FIELD_SOURCE_FULL_NAME\n'
          'levels { kind: LEVEL_NAME_EXACT } levels { kind: LEVEL_ELSE } }\n'
          'blocking_rules { name: "b" parts: KEY_FULL_NAME_FOLDED } }\n'
          'fields { levels { m: 0.9 u: 0.01 } levels { m: 0.1 u: 0.99 } }\n')
    c.add('spec { fields { name: "x" } }')
    c.add('prior: 2 version: "\\xff"')


def protoc_encode(protoc, message, text):
    return subprocess.run(
        [protoc, "-I", os.path.join(ROOT, "proto"), f"--encode=linkage.v1.{message}",
         "linkage/v1/service.proto"], input=text.encode(), check=True,
        capture_output=True).stdout


def record_text(p):
    fields = []
    for key in ["record_id", "national_id", "old_id", "full_name", "birth_date", "address",
                "commune_code", "district_code", "province_code", "phone", "ethnicity"]:
        if p.get(key):
            fields.append(f"{key}: {json.dumps(p[key], ensure_ascii=False)}")
    sex = {"Nam": "SEX_MALE", "Nữ": "SEX_FEMALE"}.get(p.get("sex", ""))
    if sex:
        fields.append(f"sex: {sex}")
    if p.get("unit_version") == "2025":
        fields.append("unit_version: UNIT_VERSION_2025")
    return "{ " + " ".join(fields) + " }"


def make_request(protoc):
    c = Corpus("request")
    register = rows(os.path.join(FIXTURES, "tricky_register.csv"))
    queries = rows(os.path.join(FIXTURES, "tricky_queries.csv"))

    def seed(mode, upsert, match):
        return bytes([mode]) + struct.pack("<H", len(upsert)) + upsert + match

    for i, q in enumerate(queries):
        match = protoc_encode(protoc, "MatchRequest",
                              f'dataset: "register" record {record_text(q)} top_k: {1 + i % 7}'
                              f'{" include_records: true" if i % 2 else ""}'
                              f'{" omit_explanation: true" if i % 3 == 0 else ""}'
                              f'{" lenient_dates: true" if i % 4 == 0 else ""}')
        upsert = protoc_encode(protoc, "UpsertRecordsRequest",
                               f'dataset: "list" records {record_text(q)}'
                               f'{" allow_partial: true" if i % 2 else ""}')
        c.add(seed(1, b"", match))
        c.add(seed(i % 2, upsert, match.replace(b"register", b"list")))
    # Writes into the register itself: an update of a register person and a
    # new near-duplicate, then a match that should find both.
    upsert = protoc_encode(protoc, "UpsertRecordsRequest",
                           'dataset: "register" allow_partial: true lenient_dates: true '
                           f'records {record_text(dict(register[0], birth_date="1948"))} '
                           f'records {record_text(dict(register[0], record_id="N1"))} '
                           'records { record_id: "" full_name: "" } '
                           'records { record_id: "N2" full_name: "An" birth_date: "46/04/1939" }')
    match = protoc_encode(protoc, "MatchRequest",
                          f'dataset: "register" record {record_text(register[0])} '
                          'top_k: 1000 exclude_record_id: "R001"')
    c.add(seed(1, upsert, match))
    batch = " ".join(f"records {record_text(p)}" for p in register)
    upsert = protoc_encode(protoc, "UpsertRecordsRequest",
                           f'dataset: "other" default_unit_version: UNIT_VERSION_PRE2025 {batch}')
    c.add(seed(0, upsert, protoc_encode(protoc, "MatchRequest",
                                        'dataset: "other" record { full_name: "Lý Kim §µi" }')))
    c.add(seed(0, b"", protoc_encode(protoc, "MatchRequest",
                                     'dataset: "nobody" record { full_name: "An" }')))
    c.add(seed(0, b"", protoc_encode(protoc, "MatchRequest",
                                     'dataset: "register" record { full_name: "An" } top_k: -1')))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protoc", default="protoc")
    args = ap.parse_args()
    make_csv()
    make_person_csv()
    make_person_json()
    make_dates()
    make_national_id()
    make_names("names")
    make_names("legacy")
    make_address()
    make_model_text()
    make_request(args.protoc)
    for name in sorted(os.listdir(os.path.join(HERE, "corpus"))):
        print(f"{name}: {len(os.listdir(os.path.join(HERE, 'corpus', name)))} seeds")


if __name__ == "__main__":
    main()
